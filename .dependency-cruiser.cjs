/**
 * The layers of src/, lowest first: a module may import from its own layer or below, never
 * from above, so the folder layout stays a picture of the architecture (docs/ARCHITECTURE.md).
 * `npm run lint` runs it; a new folder must be placed here.
 */
const LAYERS = [
  ['errors.ts', 'version.ts', 'util'],
  ['jsonrpc'],
  ['protocol'],
  ['http'],
  ['pipeline'],
  ['observe'],
  ['tunnel'],
  ['config'],
  ['relay'],
  ['protect'],
  ['upstream'],
  ['csp'],
  ['middleware'],
  ['auth'],
  ['context.ts'],
  ['edge'],
  ['widgets'],
  ['forward'],
  ['transparent', 'gateway'],
  ['store'],
  ['metrics', 'tracing', 'admin', 'dashboard', 'operate'],
  ['portico.ts', 'index.ts'],
  ['cluster'],
  ['cli'],
]

const pathOf = (names) =>
  `^src/(${names.map((name) => name.replace('.', '\\.') + (name.endsWith('.ts') ? '$' : '/')).join('|')})`

const layerRules = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `layer-${layer.join('+')}`,
  comment: `${layer.join(', ')} may not import from a higher layer`,
  severity: 'error',
  from: { path: pathOf(layer) },
  to: { path: pathOf(LAYERS.slice(index + 1).flat()) },
}))

const transparentAndGateway = [
  {
    name: 'modes-apart',
    comment: 'transparent/ and gateway/ are two modes of one pipeline: neither imports the other',
    severity: 'error',
    from: { path: '^src/transparent/' },
    to: { path: '^src/gateway/' },
  },
  {
    name: 'modes-apart-2',
    comment: 'transparent/ and gateway/ are two modes of one pipeline: neither imports the other',
    severity: 'error',
    from: { path: '^src/gateway/' },
    to: { path: '^src/transparent/' },
  },
]

module.exports = {
  forbidden: [
    ...layerRules,
    ...transparentAndGateway,
    {
      name: 'no-unplaced-folder',
      comment: 'every module of src/ belongs to a layer above (add new folders to LAYERS)',
      severity: 'error',
      from: { path: '^src/', pathNot: pathOf(LAYERS.flat()) },
      to: {},
    },
    {
      name: 'src-not-from-tests',
      comment: 'the product never imports test, bench or fixture code',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
}
