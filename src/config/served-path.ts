/** A path Portico serves (the MCP endpoint, the legacy SSE stream, the metrics): one rule. */
import { z } from 'zod'
import { isPlainPath } from '../http/plain-path.ts'

export const servedPathSchema = z
  .string()
  .regex(/^\/[^\s?#]*$/, 'expected a path starting with "/"')
  // The router refuses every request to such a path before routing (http/plain-path.ts).
  .refine(isPlainPath, {
    message:
      'a "." or ".." segment or a backslash: requests to such a path are refused before routing, so it could never be reached',
  })
