'use strict';
// A Node host for the end-to-end tests, built on clients/node.
//   node host.js PRODUCT BASE COUNT PAUSE_EVERY   tracks feature.export = BASE..BASE+COUNT-1,
//   printing "sent N" every 1000 (a 1 ms pause after every PAUSE_EVERY events), then flushes.
const { connect } = require('../../../clients/node');

async function main() {
  const [product, base, count, every] = process.argv.slice(2);
  const c = connect({ product });
  c.on('error', (err) => console.error('refused', err.message));
  for (let i = 0; i < Number(count); i++) {
    c.track('feature.export', { value: Number(base) + i });
    if ((i + 1) % 1000 === 0) console.log(`sent ${i + 1}`);
    if (Number(every) > 0 && (i + 1) % Number(every) === 0) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  await c.flush(60000);
  console.log('flushed 0');
  c.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
