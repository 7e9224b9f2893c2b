/**
 * Decodes OTLP/HTTP binary protobuf trace exports with protobufjs (a general protobuf library,
 * independent of Portico's encoder) into the shape OTLP/JSON has: camelCase fields, ids in
 * lower-case hex, 64-bit integers as decimal strings, enums as numbers. Tests then read spans
 * the same way whichever encoding Portico sent. The schema below is opentelemetry-proto's
 * `collector/trace/v1` and `trace/v1` messages (field numbers as published), written as a
 * protobufjs JSON descriptor.
 */
import protobuf from 'protobufjs'

/** OTLP/JSON's shapes, as both encodings decode (the fields tests read). */
export interface OtlpAttribute {
  key: string
  value: { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number }
}

export interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: OtlpAttribute[]
  status: { code?: number; message?: string }
}

export interface OtlpPayload {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] }
    scopeSpans: Array<{ scope: { name: string; version?: string }; spans: OtlpSpan[] }>
  }>
}

const keyValues = { rule: 'repeated', type: 'KeyValue' } as const

const descriptor = {
  nested: {
    ExportTraceServiceRequest: {
      fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } },
    },
    ResourceSpans: {
      fields: {
        resource: { type: 'Resource', id: 1 },
        scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
        schemaUrl: { type: 'string', id: 3 },
      },
    },
    Resource: {
      fields: {
        attributes: { ...keyValues, id: 1 },
        droppedAttributesCount: { type: 'uint32', id: 2 },
      },
    },
    ScopeSpans: {
      fields: {
        scope: { type: 'InstrumentationScope', id: 1 },
        spans: { rule: 'repeated', type: 'Span', id: 2 },
        schemaUrl: { type: 'string', id: 3 },
      },
    },
    InstrumentationScope: {
      fields: {
        name: { type: 'string', id: 1 },
        version: { type: 'string', id: 2 },
        attributes: { ...keyValues, id: 3 },
        droppedAttributesCount: { type: 'uint32', id: 4 },
      },
    },
    Span: {
      fields: {
        traceId: { type: 'bytes', id: 1 },
        spanId: { type: 'bytes', id: 2 },
        traceState: { type: 'string', id: 3 },
        parentSpanId: { type: 'bytes', id: 4 },
        flags: { type: 'fixed32', id: 16 },
        name: { type: 'string', id: 5 },
        kind: { type: 'int32', id: 6 },
        startTimeUnixNano: { type: 'fixed64', id: 7 },
        endTimeUnixNano: { type: 'fixed64', id: 8 },
        attributes: { ...keyValues, id: 9 },
        droppedAttributesCount: { type: 'uint32', id: 10 },
        droppedEventsCount: { type: 'uint32', id: 12 },
        droppedLinksCount: { type: 'uint32', id: 14 },
        status: { type: 'Status', id: 15 },
      },
    },
    Status: {
      fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } },
    },
    KeyValue: {
      fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } },
    },
    AnyValue: {
      oneofs: {
        value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'bytesValue'] },
      },
      fields: {
        stringValue: { type: 'string', id: 1 },
        boolValue: { type: 'bool', id: 2 },
        intValue: { type: 'int64', id: 3 },
        doubleValue: { type: 'double', id: 4 },
        bytesValue: { type: 'bytes', id: 7 },
      },
    },
  },
}

const request = protobuf.Root.fromJSON(descriptor).lookupType('ExportTraceServiceRequest')

const ID_FIELDS = ['traceId', 'spanId', 'parentSpanId']

/** An OTLP/protobuf trace export as the OTLP/JSON object of the same request. */
export function decodeTraceRequest(body: Uint8Array): unknown {
  const object = request.toObject(request.decode(body), {
    longs: String,
    bytes: String,
    oneofs: false,
    arrays: true,
  }) as {
    resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }>
  }
  for (const resource of object.resourceSpans ?? []) {
    for (const scope of resource.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        for (const field of ID_FIELDS) {
          const value = span[field]
          if (typeof value === 'string') span[field] = Buffer.from(value, 'base64').toString('hex')
        }
        span.status ??= {}
      }
    }
  }
  return object
}
