// A plain CommonJS consumer: requires each built @ssekit package by name and prints what it exports.
// Each package is reported on its own, so one broken build does not hide the others.
const names = [
  '@ssekit/core',
  '@ssekit/core/store',
  '@ssekit/core/adapter',
  '@ssekit/express',
  '@ssekit/fastify',
  '@ssekit/redis',
];

const report = {};
for (const name of names) {
  try {
    const mod = require(name);
    report[name] = { resolved: require.resolve(name), exports: Object.keys(mod).sort() };
    // The built code works, not only loads: encode one frame with core.
    if (name === '@ssekit/core')
      report[name].frame = mod.encodeEvent({ id: 0, data: 'a\nb' }).toString();
    if (name === '@ssekit/core/store')
      report[name].shared =
        new mod.StoreUnavailableError('x') instanceof require('@ssekit/core').SsekitError;
  } catch (error) {
    report[name] = { error: String(error) };
  }
}
console.log(JSON.stringify(report));
