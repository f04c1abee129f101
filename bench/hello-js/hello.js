// hello-js: plugins/hello in JavaScript. `GET /hello-js` answers {"hello":"world"} and touches
// nothing else, so a call to it costs what the host, the wasm boundary and the JavaScript
// engine cost per call: the `calls` benchmark measures that (bench/src/calls.rs).

/** What the host calls: `eddy:plugin/handler`. */
export const handler = {
  functions() {
    return ['hello'];
  },
  handle(name, event) {
    if (name !== 'hello') {
      throw { code: 'not-found', message: `hello-js has no function ${name}` };
    }
    return { tag: 'json', val: JSON.stringify({ hello: 'world' }) };
  },
};
