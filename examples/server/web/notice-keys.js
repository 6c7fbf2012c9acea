// The operator keys this app trusts for security notices (FORMAT.md §18):
// `[{ name, key }]`, as `medseal-notice keygen` prints them. The app pins
// them in its own code, so the server cannot make it show a notice the
// operator did not sign. Served by the same server here, which is the
// demo's limit: in production ship the app apart from the data server
// (an extension, a signed build, Subresource Integrity), or the server
// could change this file too (docs/SECURITY.md §8c). Empty: no notices.
export const OPERATOR_KEYS = [];
