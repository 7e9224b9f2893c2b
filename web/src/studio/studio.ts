/**
 * The studio: connect to Portico's own MCP endpoint (or any URL), list tools, resources and
 * prompts, call a tool through a form made from its inputSchema, see the result, and preview
 * MCP App widgets as ChatGPT and as Claude would render them.
 */
import { getJson } from '../api.ts'
import { formatBytes, formatLatency, h, nameOf } from '../dom.ts'
import type { Exchange, Page } from '../pages/types.ts'
import { linkTo } from '../state.ts'
import { toolForm } from './form.ts'
import { StudioClient } from './mcp.ts'
import { type Preview, widgetPreview } from './widget.ts'

interface Tool {
  name: string
  description?: string
  inputSchema?: unknown
  _meta?: Record<string, unknown>
}

interface Resource {
  uri: string
  name?: string
  mimeType?: string
  _meta?: Record<string, unknown>
}

let client: StudioClient | undefined
let previews: Preview[] = []

/** Pages of one list read at most (a server that never ends its list stops here). */
const MAX_LIST_PAGES = 100

/** Every page of a list (`nextCursor`), so a tool on a later page can be found and called. */
async function listAll<T>(c: StudioClient, method: string, key: string): Promise<T[]> {
  const items: T[] = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = (await c.request(method, cursor === undefined ? {} : { cursor })) as Record<
      string,
      unknown
    >
    const found = result[key]
    if (Array.isArray(found)) items.push(...(found as T[]))
    const next = result.nextCursor
    if (typeof next !== 'string' || next === '' || next === cursor) break
    cursor = next
  }
  return items
}

function widgetUriOf(tool: Tool): string | undefined {
  const meta = tool._meta ?? {}
  const ui = meta.ui as { resourceUri?: unknown } | undefined
  const uri = ui?.resourceUri ?? meta['ui/resourceUri'] ?? meta['openai/outputTemplate']
  return typeof uri === 'string' ? uri : undefined
}

export const studio: Page = async (ctx) => {
  const config = await getJson<{ mcp_url: string | null }>('config', {})
  const fallback = config.mcp_url ? new URL(config.mcp_url, location.href).href : ''
  const urlInput = h('input', {
    id: 'mcp-url',
    type: 'url',
    value: ctx.params.get('url') ?? fallback,
    required: true,
    size: 40,
  })
  const credential = h('input', { id: 'mcp-credential', type: 'password', autocomplete: 'off' })
  const status = h(
    'p',
    { role: 'status', id: 'studio-status' },
    client ? `Connected to ${client.url}` : 'Not connected.',
  )
  const lists = h('div', { class: 'studio-lists' })
  const work = h('div', { class: 'studio-work', id: 'studio-work' })
  const form = h(
    'form',
    {
      class: 'connect',
      onsubmit: ((e: Event) => {
        e.preventDefault()
        void connect()
      }) as EventListener,
    },
    h('div', { class: 'field' }, h('label', { for: 'mcp-url' }, 'MCP endpoint URL'), urlInput),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'mcp-credential' }, 'Bearer token (optional)'),
      credential,
    ),
    h('button', { type: 'submit', id: 'connect' }, 'Connect'),
  )

  async function connect(): Promise<void> {
    for (const p of previews) p.close()
    previews = []
    await client?.close()
    // The last server's tools and work go with its session (closed just above): left listed,
    // a failed connect showed tools whose calls then failed with "Session not found".
    client = undefined
    lists.replaceChildren()
    work.replaceChildren()
    status.textContent = `Connecting to ${urlInput.value}…`
    try {
      client = new StudioClient(urlInput.value, credential.value || undefined)
      await client.connect()
      // The server names itself (any length, any direction marks): cut, whole in the title.
      status.replaceChildren(
        'Connected to ',
        nameOf(`${client.serverInfo.name ?? 'server'} ${client.serverInfo.version ?? ''}`),
        ` at ${client.url}`,
      )
      await showLists(client)
    } catch (error) {
      status.textContent = `Could not connect: ${String(error instanceof Error ? error.message : error)}`
    }
  }

  async function showLists(c: StudioClient): Promise<void> {
    const caps = c.capabilities
    const tools = caps.tools ? await listAll<Tool>(c, 'tools/list', 'tools') : []
    const resources = caps.resources
      ? await listAll<Resource>(c, 'resources/list', 'resources')
      : []
    const prompts = caps.prompts
      ? await listAll<{ name: string; description?: string }>(c, 'prompts/list', 'prompts')
      : []
    lists.replaceChildren(
      h(
        'section',
        {},
        h('h2', {}, `Tools (${tools.length})`),
        h(
          'ul',
          { id: 'studio-tools' },
          tools.map((t) =>
            h(
              'li',
              {},
              h(
                'button',
                {
                  type: 'button',
                  class: 'link name',
                  title: t.name,
                  onclick: () => openTool(c, t),
                },
                t.name,
              ),
            ),
          ),
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, `Resources (${resources.length})`),
        h(
          'ul',
          { id: 'studio-resources' },
          resources.map((r) =>
            h(
              'li',
              {},
              nameOf(r.uri, 'code'),
              r.uri.startsWith('ui://')
                ? h(
                    'button',
                    { type: 'button', class: 'link', onclick: () => void previewResource(c, r) },
                    ` Preview ${r.name ?? 'widget'}`,
                  )
                : null,
            ),
          ),
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, `Prompts (${prompts.length})`),
        h(
          'ul',
          { id: 'studio-prompts' },
          prompts.map((p) =>
            h('li', {}, nameOf(p.name), p.description ? ` — ${p.description}` : ''),
          ),
        ),
      ),
    )
  }

  function openTool(c: StudioClient, tool: Tool): void {
    const toolFormView = toolForm(tool.name, tool.inputSchema)
    const result = h('pre', { id: 'tool-result', class: 'result', 'aria-live': 'polite' })
    const recorded = h('p', { id: 'recorded', 'aria-live': 'polite' })
    const widgetUri = widgetUriOf(tool)
    const previewsBox = h('div', { class: 'previews' })
    const call = async () => {
      let args: Record<string, unknown>
      try {
        args = toolFormView.argumentsOf()
      } catch (error) {
        result.textContent = `Invalid arguments: ${String(error instanceof Error ? error.message : error)}`
        return
      }
      result.textContent = 'Calling…'
      try {
        const answer = await c.request('tools/call', { name: tool.name, arguments: args })
        result.textContent = JSON.stringify(answer, null, 2)
        if (c.lastRequest) void showRecorded(tool.name, recorded, c.lastRequest)
        if (widgetUri) await showWidget(c, widgetUri, previewsBox, args, answer)
      } catch (error) {
        result.textContent = String(error instanceof Error ? error.message : error)
      }
    }
    work.replaceChildren(
      h('h2', {}, nameOf(tool.name)),
      ...(tool.description ? [h('p', {}, tool.description)] : []),
      toolFormView.element,
      h(
        'button',
        {
          type: 'button',
          id: 'call-tool',
          class: 'name',
          title: `Call ${tool.name}`,
          onclick: () => void call(),
        },
        `Call ${tool.name}`,
      ),
      h('h3', {}, 'Result'),
      result,
      h('h3', {}, 'Recorded exchange'),
      recorded,
      h('p', {}, h('a', { href: linkTo('live', {}) }, 'See the calls as they happen (live)')),
      previewsBox,
    )
  }

  /**
   * The call as this proxy's store recorded it (when the studio talks to the proxy the dashboard
   * reads): the studio's `tools/call` of this tool with this request's id in this session,
   * polled for up to 3 s. Matched by its id, not by time: the store writes in batches, and the
   * newest row found first was often the previous call's.
   */
  async function showRecorded(
    name: string,
    into: HTMLElement,
    sent: { id: number; session: string | undefined },
  ): Promise<void> {
    into.textContent = 'Looking for it in the store…'
    const isThisCall = (call: Exchange) =>
      call.jsonrpc_id === String(sent.id) &&
      (sent.session === undefined || call.session_id === sent.session)
    for (let i = 0; i < 15; i++) {
      const { calls } = await getJson<{ calls: Exchange[] }>('logs', {
        since: '15m',
        tool: name,
        client: 'portico-studio',
        limit: '20',
      }).catch(() => ({ calls: [] as Exchange[] }))
      const call = calls.find(isThisCall)
      if (call) {
        into.textContent = `${call.method} ${call.name ?? ''} · ${call.outcome} · ${formatLatency(call.latency_us)} · ${formatBytes(call.bytes_in)} in, ${formatBytes(call.bytes_out)} out · proxy ${call.proxy} · session ${call.session_id ?? '(none)'}`
        return
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    into.textContent = 'Not in this store (the endpoint is not a proxy recording here).'
  }

  async function previewResource(c: StudioClient, resource: Resource): Promise<void> {
    const box = h('div', { class: 'previews' })
    work.replaceChildren(h('h2', {}, 'Widget ', nameOf(resource.uri)), box)
    await showWidget(c, resource.uri, box, undefined, undefined, resource._meta)
  }

  async function showWidget(
    c: StudioClient,
    uri: string,
    box: HTMLElement,
    toolInput?: Record<string, unknown>,
    toolResult?: unknown,
    listedMeta?: Record<string, unknown>,
  ): Promise<void> {
    for (const p of previews) p.close()
    previews = []
    const read = (await c.request('resources/read', { uri })) as {
      contents: Array<{ text?: string; _meta?: Record<string, unknown> }>
    }
    const content = read.contents[0]
    if (!content?.text) {
      box.replaceChildren(h('p', {}, `${uri} has no HTML text to preview.`))
      return
    }
    const meta = content._meta ?? listedMeta ?? {}
    box.replaceChildren()
    for (const shape of ['chatgpt', 'claude'] as const) {
      const preview = widgetPreview({
        shape,
        html: content.text,
        meta,
        client: c,
        ...(toolInput ? { toolInput } : {}),
        ...(toolResult !== undefined ? { toolResult } : {}),
      })
      previews.push(preview)
      box.append(preview.element)
      await preview.start()
    }
  }

  const page = h(
    'div',
    {},
    h('h1', {}, 'Studio'),
    form,
    status,
    h('div', { class: 'studio' }, lists, work),
  )
  if (client && client.url === urlInput.value) void showLists(client).catch(() => undefined)
  return page
}
