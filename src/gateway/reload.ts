/**
 * Gateway hot reload: what a reload applies in gateway mode (the backends and what they are
 * built with) and how (`Gateway.apply`: untouched backends and client sessions stay, replaced
 * ones finish their calls), on the shared machinery of `edge/reload.ts`. Clients are told
 * their lists changed.
 */

import { PROTECT_KEYS } from '../config/protect.ts'
import type { Config } from '../config/schema.ts'
import {
  type ReloadOutcome,
  type ReloadSource,
  type ReloadTarget,
  reloadRefusal as refusalOf,
  reload as reloadTarget,
} from '../edge/reload.ts'
import type { Logger } from '../observe/logger.ts'
import type { Gateway } from './gateway.ts'

/**
 * What a reload applies besides `[[backends]]`: the settings the gateway reads on each use
 * or builds into the backends it replaces (gateway.ts `sharedOf`). Everything else is built
 * once at start (the listener, the global chain, the sinks, the tunnel).
 */
const APPLIED = {
  top: new Set<string>([
    'backends',
    ...PROTECT_KEYS,
    'performance',
    'request_timeout',
    'max_response_body_size',
  ]),
  proxy: new Set<string>([
    'separator',
    'list_cache_ttl',
    'list_timeout',
    'instructions',
    'tool_discovery',
    'tool_exposure',
    'admin_tools',
  ]),
}

function refuse(next: Config): string | undefined {
  return next.backends?.length ? undefined : 'gateway mode needs at least one [[backends]] table'
}

/** One target per gateway, so a rejected reload is remembered across reloads. */
const targets = new WeakMap<Gateway, ReloadTarget>()

/** The gateway as a reload's target. */
export function gatewayTarget(gateway: Gateway): ReloadTarget {
  const known = targets.get(gateway)
  if (known !== undefined) return known
  const target: ReloadTarget = {
    get config() {
      return gateway.config
    },
    get fileConfig() {
      return gateway.fileConfig
    },
    set fileConfig(config: Config) {
      gateway.fileConfig = config
    },
    applied: APPLIED,
    refuse: (next) => refuse(next) ?? gateway.addedClash(next),
    async apply(next) {
      const { added, removed, changed } = await gateway.apply(next)
      return {
        changes: { added, removed, changed },
        // Clients re-list when told: tell them once the new backends can answer (bounded), so
        // the list has their tools and the backends' own start-up announcements come with it.
        after: async () => {
          await gateway.started([...added, ...changed])
          gateway.announceListChanges()
        },
      }
    },
  }
  targets.set(gateway, target)
  return target
}

export function reload(
  gateway: Gateway,
  source: ReloadSource,
  logger: Logger,
): Promise<ReloadOutcome> {
  return reloadTarget(gatewayTarget(gateway), source, logger)
}

/** Why a gateway's hot reload would refuse `next` while `running` is in force, or undefined. */
export function reloadRefusal(running: Config, next: Config): string | undefined {
  return refusalOf({ applied: APPLIED, refuse }, running, next)
}
