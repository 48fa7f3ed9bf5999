// The package is "type": "module"; this marks the CommonJS build as such so
// that Node loads dist/cjs/*.js with require semantics.
import { writeFileSync } from 'node:fs';

writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
