/** `npm run docs`: regenerate docs/CONFIG.md from the schema. */
import { atomicWrite } from '../io/atomic.js';
import { configReference } from '../config/doc.js';

atomicWrite('docs/CONFIG.md', configReference());
process.stdout.write('wrote docs/CONFIG.md\n');
