/**
 * A form generated from a tool's `inputSchema` (strings, enums, numbers, booleans; objects and
 * arrays as JSON), with the raw JSON arguments beside it. Both edit the same arguments: a form
 * change is applied to what the raw JSON says and rewrites it, and the JSON is what is sent.
 */
import { h, nameOf } from '../dom.ts'

interface Property {
  type?: string | string[]
  description?: string
  enum?: unknown[]
  default?: unknown
}

export interface ToolForm {
  element: HTMLElement
  /** The arguments to send (the raw JSON, parsed); throws with a message when it is not JSON. */
  argumentsOf(): Record<string, unknown>
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The schema's properties as the form reads them: a property schema that is no object (`null`,
 * JSON Schema's `true`) is one of any type, and a non-array `enum` is none. A tool a server
 * describes oddly still opens (a `null` property threw, and the tool showed nothing).
 */
function propertiesOf(schema: unknown): Record<string, Property> {
  const listed = isObject(schema) && isObject(schema.properties) ? schema.properties : {}
  const out: Record<string, Property> = {}
  for (const [name, value] of Object.entries(listed)) {
    if (!isObject(value)) {
      out[name] = {}
      continue
    }
    const { enum: values, ...rest } = value as Property
    out[name] = Array.isArray(values) ? { ...rest, enum: values } : rest
  }
  return out
}

export function toolForm(toolName: string, schema: unknown): ToolForm {
  const properties = propertiesOf(schema)
  const listed = isObject(schema) && Array.isArray(schema.required) ? schema.required : []
  const required = new Set(listed.filter((name): name is string => typeof name === 'string'))
  const values: Record<string, unknown> = {}
  for (const [name, p] of Object.entries(properties))
    if (p.default !== undefined) values[name] = p.default
  const raw = h('textarea', { id: 'raw-args', rows: 10, spellcheck: 'false', class: 'json' })
  raw.value = JSON.stringify(values, null, 2)
  /**
   * What the raw box says becomes the form's base before a field changes it, so arguments
   * typed there are kept (they were replaced by the form's own). Raw text that is not a JSON
   * object is left as typed: the call then says what is wrong with it.
   */
  const edit = (change: () => void) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(raw.value || '{}')
    } catch {
      return
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return
    for (const key of Object.keys(values)) delete values[key]
    Object.assign(values, parsed)
    change()
    raw.value = JSON.stringify(values, null, 2)
  }
  const fields = Object.entries(properties).map(([name, p]) => {
    const id = `arg-${name}`
    const type = Array.isArray(p.type) ? p.type[0] : p.type
    const label = h('label', { for: id }, name, required.has(name) ? ' (required)' : '')
    let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement
    if (p.enum) {
      input = h(
        'select',
        { id },
        h('option', { value: '' }, '—'),
        p.enum.map((v) => h('option', { value: String(v) }, String(v))),
      )
      input.addEventListener('change', () =>
        edit(() => {
          const v = (input as HTMLSelectElement).value
          if (v === '') delete values[name]
          else values[name] = p.enum?.find((e) => String(e) === v)
        }),
      )
    } else if (type === 'boolean') {
      input = h('input', { id, type: 'checkbox', checked: values[name] === true })
      input.addEventListener('change', () =>
        edit(() => {
          values[name] = (input as HTMLInputElement).checked
        }),
      )
    } else if (type === 'number' || type === 'integer') {
      input = h('input', {
        id,
        type: 'number',
        step: type === 'integer' ? '1' : 'any',
        value: values[name] === undefined ? undefined : String(values[name]),
      })
      input.addEventListener('input', () =>
        edit(() => {
          const v = (input as HTMLInputElement).value
          if (v === '') delete values[name]
          else values[name] = Number(v)
        }),
      )
    } else if (type === 'object' || type === 'array') {
      input = h('textarea', { id, rows: 3, class: 'json' })
      if (values[name] !== undefined) input.value = JSON.stringify(values[name])
      input.addEventListener('input', () => {
        const area = input as HTMLTextAreaElement
        let parsed: unknown
        try {
          parsed = area.value === '' ? undefined : JSON.parse(area.value)
        } catch {
          // Said on the field, and the arguments keep their last value until it is JSON.
          area.setCustomValidity(`${name}: not JSON yet`)
          area.reportValidity()
          return
        }
        area.setCustomValidity('')
        edit(() => {
          if (parsed === undefined) delete values[name]
          else values[name] = parsed
        })
      })
    } else {
      input = h('input', {
        id,
        type: 'text',
        value: typeof values[name] === 'string' ? (values[name] as string) : undefined,
      })
      input.addEventListener('input', () =>
        edit(() => {
          values[name] = (input as HTMLInputElement).value
        }),
      )
    }
    return h(
      'div',
      { class: 'field' },
      label,
      input,
      p.description ? h('small', {}, p.description) : null,
    )
  })
  const element = h(
    'div',
    { class: 'tool-form' },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Arguments of ', nameOf(toolName)),
      fields.length ? fields : h('p', {}, 'No arguments.'),
    ),
    h('div', { class: 'field' }, h('label', { for: 'raw-args' }, 'Raw JSON arguments'), raw),
  )
  return {
    element,
    argumentsOf() {
      const parsed = JSON.parse(raw.value || '{}') as unknown
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('the arguments must be a JSON object')
      return parsed as Record<string, unknown>
    },
  }
}
