/** Builds the store sink a proxy records to, from its `[store]` config (or none when disabled). */

import { parseDuration } from '../config/duration.ts'
import type { Config } from '../config/schema.ts'
import type { Logger } from '../observe/logger.ts'
import { defaultStorePath, upgradeMessage } from './open.ts'
import { type StoreSink, storeSink } from './sink.ts'

export interface StoreSetup {
  sink: StoreSink
  path: string
}

export function storeFor(config: Config, proxy: string, logger: Logger): StoreSetup | undefined {
  if (!config.store.enabled) return undefined
  const path = config.store.path ?? defaultStorePath()
  const retentionMs =
    config.store.retention === undefined ? undefined : parseDuration(config.store.retention)
  const sink = storeSink({
    path,
    proxy,
    ...(retentionMs === undefined ? {} : { retentionMs }),
    onError: (message) => logger.warn(message, { store: path }),
    onUpgrade: (from, to) => logger.info(upgradeMessage(path, from, to), { store: path, from, to }),
  })
  return { sink, path }
}
