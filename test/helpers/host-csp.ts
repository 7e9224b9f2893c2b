/** The host's widget CSP, as the studio builds it (src/csp/host-policy.ts). */
export {
  buildHostCsp,
  fromOpenAiMeta,
  fromUiMeta,
  type HostCspInput,
} from '../../src/csp/host-policy.ts'
