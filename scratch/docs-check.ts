import { openTestPlatform } from '../test/support/test-platform.js';
const t = await openTestPlatform('phase3');
const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
const doc = res.json();
console.log(res.statusCode, Object.keys(doc.paths).filter((p: string) => /photos|messages|sync|catalog|sales|discovery|edge/.test(p)));
await t.close();
