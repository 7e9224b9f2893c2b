/**
 * An MCP App widget (`ui://…`) previewed as a host would show it: the HTML in a sandboxed iframe
 * (scripts only: an opaque origin, no access to this page) under the Content-Security-Policy the
 * host builds from the widget's metadata, read through Portico (which rewrote it): once from
 * `openai/widgetCSP` as ChatGPT does, once from `ui.csp` as Claude does. The iframe reports each
 * CSP violation to the page; the MCP Apps host bridge (`@modelcontextprotocol/ext-apps`) talks
 * to the widget over postMessage and relays its tool calls and reads to the server.
 */
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge'
import { buildHostCsp, fromOpenAiMeta, fromUiMeta } from '../../../src/csp/host-policy.ts'
import { authHeaders } from '../api.ts'
import { h } from '../dom.ts'
import type { StudioClient } from './mcp.ts'

export type HostShape = 'chatgpt' | 'claude'

export interface Violation {
  directive: string
  blocked: string
}

/** What the iframe runs first: every `securitypolicyviolation` is posted to the page. */
const REPORTER = `<script>document.addEventListener('securitypolicyviolation',function(e){parent.postMessage({portico:'csp-violation',directive:e.effectiveDirective,blocked:e.blockedURI},'*')})</script>`

export function hostCsp(shape: HostShape, meta: unknown): string {
  return buildHostCsp(shape === 'chatgpt' ? fromOpenAiMeta(meta) : fromUiMeta(meta))
}

/** The widget's document with the reporter placed before anything else runs. */
export function sandboxDocument(html: string): string {
  const head = REPORTER
  const match = /<head[^>]*>/i.exec(html)
  if (match)
    return (
      html.slice(0, match.index + match[0].length) +
      head +
      html.slice(match.index + match[0].length)
    )
  return `<!doctype html><html><head>${head}</head><body>${html}</body></html>`
}

export interface Preview {
  element: HTMLElement
  /** Connects the bridge and loads the widget; call once the element is in the page. */
  start(): Promise<void>
  close(): void
}

export function widgetPreview(options: {
  shape: HostShape
  html: string
  meta: unknown
  client: StudioClient
  toolInput?: Record<string, unknown>
  toolResult?: unknown
}): Preview {
  const { shape } = options
  const csp = hostCsp(shape, options.meta)
  const list = h('ul', { class: 'violations', id: `violations-${shape}`, 'aria-live': 'polite' })
  const count = h('span', { id: `violation-count-${shape}` }, '0')
  const iframe = h('iframe', {
    title: `Widget as ${shape === 'chatgpt' ? 'ChatGPT' : 'Claude'} renders it`,
    sandbox: 'allow-scripts allow-forms',
    class: 'widget',
    id: `widget-${shape}`,
  })
  let violations = 0
  const onMessage = (event: MessageEvent) => {
    if (event.source !== iframe.contentWindow) return
    const data = event.data as { portico?: string; directive?: string; blocked?: string }
    if (data?.portico !== 'csp-violation') return
    violations++
    count.textContent = String(violations)
    list.append(
      h(
        'li',
        {},
        h('code', {}, data.directive ?? '?'),
        ' blocked ',
        h('code', {}, data.blocked || '(inline)'),
      ),
    )
  }
  window.addEventListener('message', onMessage)
  const bridge = new AppBridge(
    null,
    { name: 'Portico studio', version: '0.1.0' },
    { serverTools: {}, serverResources: {}, openLinks: {} },
  )
  bridge.oncalltool = async (params) =>
    (await options.client.request('tools/call', params)) as never
  bridge.onreadresource = async (params) =>
    (await options.client.request('resources/read', params)) as never
  bridge.onopenlink = async () => ({})
  bridge.onmessage = async () => ({})
  bridge.oninitialized = () => {
    void (async () => {
      await bridge.sendToolInput({ arguments: options.toolInput ?? {} })
      if (options.toolResult !== undefined) await bridge.sendToolResult(options.toolResult as never)
    })().catch(() => undefined)
  }
  const element = h(
    'figure',
    { class: 'preview' },
    h(
      'figcaption',
      {},
      shape === 'chatgpt' ? 'As ChatGPT (openai/widgetCSP)' : 'As Claude (ui.csp)',
    ),
    h(
      'details',
      {},
      h('summary', {}, 'Content-Security-Policy'),
      h('pre', { id: `csp-${shape}` }, csp.split('; ').join(';\n')),
    ),
    iframe,
    h('p', {}, 'CSP violations: ', count),
    list,
  )
  return {
    element,
    async start() {
      const target = iframe.contentWindow
      if (target)
        void bridge.connect(new PostMessageTransport(target, target)).catch(() => undefined)
      // Served by the dashboard with the CSP as a header: a srcdoc frame would inherit the
      // dashboard's own policy instead of the host's.
      const res = await fetch('api/studio/frame', {
        method: 'POST',
        headers: { ...authHeaders(), 'content-type': 'application/json' },
        body: JSON.stringify({ html: sandboxDocument(options.html), csp }),
      })
      if (!res.ok) throw new Error(`widget frame: HTTP ${res.status} ${await res.text()}`)
      iframe.src = ((await res.json()) as { path: string }).path
    },
    close() {
      window.removeEventListener('message', onMessage)
      void bridge.close().catch(() => undefined)
    },
  }
}
