import type { ChangeRow, SchemaReport, ToolUsage } from '../../../src/store/report-schema.ts'
import { getJson } from '../api.ts'
import { formatCount, formatTime, h, nameOf, section, table } from '../dom.ts'
import type { Page } from './types.ts'

interface ProxySchema extends SchemaReport {
  tools: Array<{ name: string; description?: string; inputSchema?: unknown }>
  usage: ToolUsage[]
  changes: ChangeRow[]
}

export const schema: Page = async (ctx) => {
  const { proxies } = await getJson<{ proxies: ProxySchema[] }>('schema', {
    since: ctx.since,
    proxy: ctx.proxy,
  })
  const page = h('div', {}, h('h1', {}, 'Schema'))
  if (proxies.length === 0)
    page.append(h('p', {}, 'No schema captured yet (it is captured when a client lists tools).'))
  for (const p of proxies) {
    const server = p.server
    page.append(
      section(
        // Names a server chose, of any length: cut with an ellipsis, whole in the title.
        nameOf(`${p.proxy}: ${server?.name ?? 'unknown server'} ${server?.version ?? ''}`),
        h(
          'p',
          {},
          `Protocol ${server?.protocol_version ?? '?'} · capabilities: ${server?.capabilities.join(', ') || 'none'} · capture ${p.status}`,
        ),
        h(
          'ul',
          { class: 'tools', id: `tools-${p.proxy}` },
          p.tools.map((tool) =>
            h(
              'li',
              {},
              h(
                'details',
                {},
                h(
                  'summary',
                  {},
                  nameOf(tool.name, 'code'),
                  tool.description ? ` — ${tool.description}` : '',
                ),
                h('pre', {}, JSON.stringify(tool.inputSchema ?? {}, null, 2)),
              ),
            ),
          ),
        ),
        table(
          'Tool usage in this window (unused first)',
          [
            { label: 'Tool', value: (u) => u.tool },
            {
              label: 'Calls',
              value: (u) => u.calls,
              render: (u) => formatCount(u.calls),
              numeric: true,
            },
            { label: 'Errors', value: (u) => u.errors, numeric: true },
            {
              label: 'Last called',
              value: (u) => u.last_called ?? 0,
              render: (u) => (u.last_called ? formatTime(u.last_called) : 'never'),
            },
            { label: 'Status', value: (u) => u.status },
          ],
          p.usage,
          { id: `usage-${p.proxy}` },
        ),
        table(
          'Change history',
          [
            {
              label: 'Detected',
              value: (c) => c.detected_at,
              render: (c) => formatTime(c.detected_at),
            },
            { label: 'List', value: (c) => c.method },
            { label: 'Change', value: (c) => c.change },
            { label: 'Item', value: (c) => c.item ?? '' },
            { label: 'Detail', value: (c) => c.detail ?? '' },
          ],
          p.changes,
          { id: `changes-${p.proxy}` },
        ),
      ),
    )
  }
  return page
}
