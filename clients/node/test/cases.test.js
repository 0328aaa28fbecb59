'use strict';
// The shared protocol cases (clients/protocol-cases.json) through this client's request(),
// against the door at LICENSE_COMPANION_HOST_SOCKET (the pytest suite starts a real one:
// tests/integration/test_protocol_cases.py). Without it the test is skipped.
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const test = require('node:test');
const { connect } = require('..');

const cases = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'protocol-cases.json'), 'utf8'));

function mismatch(expect, answer, where = '') {
  if (expect && typeof expect === 'object' && !Array.isArray(expect)) {
    if (!answer || typeof answer !== 'object' || Array.isArray(answer)) return `${where || 'answer'}: expected an object`;
    for (const [key, value] of Object.entries(expect)) {
      if (key.startsWith('!')) {
        if (key.slice(1) in answer) return `${where}${key.slice(1)}: expected absent`;
        continue;
      }
      if (!(key in answer)) return `${where}${key}: missing`;
      const problem = mismatch(value, answer[key], `${where}${key}.`);
      if (problem) return problem;
    }
    return '';
  }
  if (Array.isArray(expect)) {
    if (!Array.isArray(answer) || answer.length !== expect.length) return `${where}: expected ${expect.length} items`;
    for (let i = 0; i < expect.length; i++) {
      const problem = mismatch(expect[i], answer[i], `${where}[${i}].`);
      if (problem) return problem;
    }
    return '';
  }
  return expect === answer ? '' : `${where}: expected ${JSON.stringify(expect)}, got ${JSON.stringify(answer)}`;
}

test('every protocol case against the real door', { skip: !process.env.LICENSE_COMPANION_HOST_SOCKET }, async () => {
  const c = connect({ product: 'Acme Pro 7' });
  try {
    for (const item of cases.cases) {
      const answer = await c.request(item.send, 10000);
      assert.strictEqual(mismatch(item.expect, answer), '', `${item.name}: ${JSON.stringify(answer)}`);
    }
  } finally {
    c.close();
  }
});

test('track never waits, flush reports a refusal, license gives the state', { skip: !process.env.LICENSE_COMPANION_HOST_SOCKET }, async () => {
  const c = connect({ product: 'Acme Pro 7' });
  const errors = [];
  c.on('error', (err) => errors.push(err));
  const id = c.track('App.started', { value: 1 });
  assert.match(id, /^n-[0-9a-f]{16}-1$/);
  c.track('App.bad', { value: 'three' });
  await assert.rejects(c.flush(10000), (err) => err.code === 'invalid_field' && err.field === 'value');
  assert.strictEqual(errors.length, 1);
  c.track('App.started', { value: 2 });
  await c.flush(10000);
  const answer = await c.license();
  assert.strictEqual(answer.license.state, 'no-key');
  c.close();
});

test('a product id becomes the slug app/client.py makes', () => {
  const { productSlug } = require('..');
  assert.strictEqual(productSlug('Acme Pro 7'), 'acme-pro-7');
  assert.strictEqual(productSlug('--'), 'default');
});
