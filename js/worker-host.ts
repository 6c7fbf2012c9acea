/**
 * The script of medseal's Web Worker mode (`VaultWorker.start()`): a module
 * worker that holds the vault and answers the page's `RemoteVault` requests.
 */
import { serveVault } from "./host.js";

serveVault(self);
