// Stands in for the `webgpu` npm package inside the GPU-check bundle: loads Dawn's Node addon
// (dawn.node) from the path run.sh unpacked it to, or from beside the bundle.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const file = process.env.ADAGRPO_DAWN_NODE ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'dawn.node');
const { create, globals } = createRequire(import.meta.url)(file);
export { create, globals };
