/**
 * The Eddy client: `createClient(options)` gives one multiplexed `/streams` socket
 * (`subscribe`, `state`, `onState`, `onProblem`, `refreshToken`, `close`) and `fetch` for
 * routes. See README.md for the guarantees.
 */
export { createClient, EddyClient } from "./client.js";
export { EddyError } from "./errors.js";
