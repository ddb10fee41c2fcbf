import { defineConfig } from 'tsup';

// One entry per module (its public surface) plus the CLI. node-seal stays
// external: `he` loads it lazily and it must never be bundled into dist.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'core/index': 'src/core/index.ts',
    'dp/index': 'src/dp/index.ts',
    'net/index': 'src/net/index.ts',
    'he/index': 'src/he/index.ts',
    'secagg/index': 'src/secagg/index.ts',
    'mpc/index': 'src/mpc/index.ts',
    'fl/index': 'src/fl/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm'],
  target: 'node22',
  platform: 'node',
  dts: { entry: { index: 'src/index.ts', 'core/index': 'src/core/index.ts', 'dp/index': 'src/dp/index.ts', 'net/index': 'src/net/index.ts', 'he/index': 'src/he/index.ts', 'secagg/index': 'src/secagg/index.ts', 'mpc/index': 'src/mpc/index.ts', 'fl/index': 'src/fl/index.ts' } },
  splitting: true,
  sourcemap: true,
  clean: true,
  treeshake: true,
  external: ['node-seal'],
  removeNodeProtocol: false,
});
