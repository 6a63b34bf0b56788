// The bidder's keys and its password-protected key file (docs/envelope.md, "Bidder key file").
//
// The keys are made here, in the bidder's browser; the private halves leave it only inside the
// encrypted file the bidder downloads. The platform is sent the public halves alone.

import {
  b64, canonicalJson, ed25519PublicOf, fromB64, fromB64Url, importOkpPrivate, randomBytes, utf8, x25519PublicOf,
} from "./envelope.js";

export const ITERATIONS = 600000;
const AAD = utf8("ebid-key-file-v1");

export class KeyFileError extends Error {}

/** Fresh X25519 (encryption) and Ed25519 (signing) key pairs, as raw 32-byte keys. */
export async function generateKeys() {
  const raw = async (name, usages) => {
    const pair = await crypto.subtle.generateKey({ name }, true, usages);
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);  // JWK carries both halves raw
    return { publicKey: fromB64Url(jwk.x), privateKey: fromB64Url(jwk.d) };
  };
  const x = await raw("X25519", ["deriveBits"]);
  const ed = await raw("Ed25519", ["sign", "verify"]);
  return { x25519Public: x.publicKey, x25519Private: x.privateKey, ed25519Public: ed.publicKey, ed25519Private: ed.privateKey };
}

async function passwordKey(password, salt, iterations, usage) {
  // NFC, as `ebid` does: the same password typed on another system must open the same file.
  const material = await crypto.subtle.importKey("raw", utf8(password.normalize("NFC")), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material,
    { name: "AES-GCM", length: 256 }, false, [usage]);
}

/** The key file's text (JSON) for the keys, sealed under the password. */
export async function writeKeyFile({ bidder, keys, password, iterations = ITERATIONS }) {
  if (!password) throw new KeyFileError("a password is required");
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = await passwordKey(password, salt, iterations, "encrypt");
  const secret = utf8(canonicalJson({ ed25519_private: b64(keys.ed25519Private), x25519_private: b64(keys.x25519Private) }));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: AAD }, key, secret));
  secret.fill(0);
  return `${JSON.stringify({
    v: 1, kind: "ebid-bidder-key", bidder,
    x25519_public: b64(keys.x25519Public), ed25519_public: b64(keys.ed25519Public),
    kdf: { name: "PBKDF2-HMAC-SHA256", iterations, salt: b64(salt) },
    nonce: b64(nonce), sealed: b64(sealed),
  }, null, 2)}\n`;
}

/**
 * Read a key file with its password. Checks that the private keys give the public keys the file
 * names, so a damaged or mismatched file is caught before anything is sealed with it.
 * @returns {{bidder, x25519Public, x25519Private, ed25519Public, ed25519Private, signingKey: CryptoKey}}
 */
export async function readKeyFile(text, password) {
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new KeyFileError("not a key file");
  }
  if (file.v !== 1 || file.kind !== "ebid-bidder-key" || file.kdf?.name !== "PBKDF2-HMAC-SHA256") {
    throw new KeyFileError("not an ebid bidder key file");
  }
  const key = await passwordKey(password, fromB64(file.kdf.salt), file.kdf.iterations, "decrypt");
  let secret;
  try {
    secret = JSON.parse(new TextDecoder().decode(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromB64(file.nonce), additionalData: AAD }, key, fromB64(file.sealed))));
  } catch {
    throw new KeyFileError("wrong password, or the key file is damaged");
  }
  const keys = {
    bidder: file.bidder,
    x25519Public: fromB64(file.x25519_public), ed25519Public: fromB64(file.ed25519_public),
    x25519Private: fromB64(secret.x25519_private), ed25519Private: fromB64(secret.ed25519_private),
  };
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  if (!same(await x25519PublicOf(keys.x25519Private), keys.x25519Public)
      || !same(await ed25519PublicOf(keys.ed25519Private), keys.ed25519Public)) {
    throw new KeyFileError("the key file's private and public keys do not match");
  }
  keys.signingKey = await importOkpPrivate("Ed25519", keys.ed25519Private, ["sign"]);
  return keys;
}

/** Hand the key file to the bidder as a download. */
export function downloadKeyFile(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
