/**
 * The route helper: `fetch` with the host's conventions — a JSON body in and out, the caller's
 * token as `Authorization: Bearer`, and the error envelope (`docs/http.md`) turned into a thrown
 * {@link EddyError} the app can branch on by `status` and `code`.
 */
import { EddyError, describe } from "./errors.js";
/** Calls `path` on `base` and resolves with the parsed JSON answer (the text for a non-JSON
 *  answer, `null` for an empty one); rejects with an {@link EddyError}. */
export async function request(fetchFn, base, path, token, options = {}) {
    const { json, ...init } = options;
    const headers = new Headers(init.headers);
    if (json !== undefined) {
        init.body = JSON.stringify(json);
        if (!headers.has("content-type"))
            headers.set("content-type", "application/json");
    }
    if (token && !headers.has("authorization"))
        headers.set("authorization", `Bearer ${token}`);
    init.headers = headers;
    let response;
    try {
        response = await fetchFn(new URL(path, base).toString(), init);
    }
    catch (thrown) {
        throw new EddyError(0, "network", describe(thrown));
    }
    const body = await readBody(response);
    if (response.ok)
        return body;
    const envelope = body?.error;
    if (envelope && typeof envelope.code === "string") {
        const message = typeof envelope.message === "string" ? envelope.message : envelope.code;
        throw new EddyError(response.status, envelope.code, message);
    }
    throw new EddyError(response.status, `http_${response.status}`, response.statusText || "error");
}
async function readBody(response) {
    let text;
    try {
        text = await response.text();
    }
    catch (thrown) {
        throw new EddyError(response.status, "network", describe(thrown));
    }
    if (text === "")
        return null;
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("json"))
        return text;
    try {
        return JSON.parse(text);
    }
    catch {
        return text;
    }
}
