import test from 'ava';
import { jsonSchemaSchema, validateJson, type JsonSchema } from '../../../engine/agents/json-schema.js';

const order: JsonSchema = {
  type: 'object',
  properties: {
    sku: { type: 'string', pattern: '^[A-Z]{3}-\\d+$' },
    qty: { type: 'integer', minimum: 1, exclusiveMaximum: 100 },
    price: { type: 'number', exclusiveMinimum: 0 },
    tags: { type: 'array', items: { type: 'string', maxLength: 5 }, minItems: 1, maxItems: 2 },
    gift: { type: ['boolean', 'null'] },
    channel: { const: 'phone' },
    meta: { type: 'object', additionalProperties: { type: 'number' } },
  },
  required: ['sku', 'qty'],
  additionalProperties: false,
};

test('a conforming value has no issues', (t) => {
  t.true(jsonSchemaSchema.safeParse(order).success);
  t.deepEqual(validateJson(order, { sku: 'ABC-12', qty: 3, price: 9.5, tags: ['a'], gift: null, channel: 'phone', meta: { w: 1 } }), []);
});

test('each keyword reports at its path', (t) => {
  const issues = validateJson(order, {
    sku: 'abc',
    qty: 100,
    price: 0,
    tags: ['toolong', 'b', 'c'],
    gift: 'yes',
    channel: 'web',
    meta: { w: 'heavy' },
    extra: true,
  });
  t.deepEqual(issues, [
    { path: ['sku'], message: 'Must match ^[A-Z]{3}-\\d+$' },
    { path: ['qty'], message: 'Must be less than 100' },
    { path: ['price'], message: 'Must be greater than 0' },
    { path: ['tags'], message: 'Must have at most 2 items' },
    { path: ['tags', 0], message: 'Must be at most 5 characters' },
    { path: ['gift'], message: 'Expected boolean or null, received string' },
    { path: ['channel'], message: 'Must be "phone"' },
    { path: ['meta', 'w'], message: 'Expected number, received string' },
    { path: ['extra'], message: 'Not a declared property' },
  ]);
  t.deepEqual(validateJson(order, { qty: 1.5 }), [
    { path: ['sku'], message: 'Field is required' },
    { path: ['qty'], message: 'Expected integer, received number' },
  ]);
  t.deepEqual(validateJson(order, 'not an object'), [{ path: [], message: 'Expected object, received string' }]);
});

test('implausible schemas are refused', (t) => {
  const issues = (schema: unknown) => {
    const r = jsonSchemaSchema.safeParse(schema);
    return r.success ? [] : r.error.issues.map((i) => [i.path.join('.'), i.message]);
  };
  t.deepEqual(issues({ type: 'object', properties: { a: { type: 'text' } } }), [
    ['properties.a.type', 'Must be string, number, integer, boolean, object, array or null, or a list of them'],
  ]);
  t.deepEqual(issues({ type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'b'], minimum: 5, maximum: 1 }), [
    ['required.1', '"b" is not declared in properties'],
    ['minimum', 'Greater than maximum'],
  ]);
  t.false(jsonSchemaSchema.safeParse({ pattern: '([' }).success);
  t.false(jsonSchemaSchema.safeParse({ enum: [] }).success);
});
