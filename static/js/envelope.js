// The sealed-bid envelope of docs/envelope.md, in the browser: it writes version 2 and opens both.
//
// Everything secret happens here, on the bidder's machine: the platform only ever receives the
// sealed bytes. The envelope is produced as a list of Blob parts (never one whole ArrayBuffer), so
// a bid of hundreds of megabytes does not have to fit in the page's memory. Version 2 reads each
// document once (bid.json lists no document hashes); the package's hash (the commitment) and the
// envelope file's hash (so the page can check that the receipt names exactly the bytes it sealed)
// are computed as the bytes stream past; the signature covers the chunks' tags.

import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "../vendor/hpke/core/mod.js";
import { Sha256, sha256 } from "./sha256.js";

export const MAGIC = ascii("EBIDENV1");
export const MAGIC_V2 = ascii("EBIDENV2");
const MAGICS = { 1: MAGIC, 2: MAGIC_V2 };
export const LATEST = 2;
export const END = ascii("EBIDEND1");
export const SUITE = "HPKE-X25519-HKDF-SHA256-AES-256-GCM";
const MAX_HEADER = 65536;
const MAX_TRAILER = 4096;
const MAX_BID_JSON = 1 << 20;
const READ_SLICE = 1 << 20;         // how much of a File is read at a time
const BLOB_GROUP = 4 << 20;         // ciphertext gathered before it is handed to a Blob

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

// ---------------------------------------------------------------- bytes

export function utf8(text) { return encoder.encode(text); }
export function ascii(text) { return Uint8Array.from(text, (c) => c.charCodeAt(0)); }

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function u32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error("not lower-case hex");
  return Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
}

export function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromB64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function randomBytes(n) { return crypto.getRandomValues(new Uint8Array(n)); }

/** The platform's key id: hex SHA-256 of the 32-byte raw public key. */
export function kid(rawPublicKey) { return hex(sha256(rawPublicKey)); }

// ---------------------------------------------------------------- canonical JSON (RFC 8785)

/**
 * RFC 8785 for the values the format uses: objects, arrays, strings, integers, booleans, null.
 * JSON.stringify already escapes strings as RFC 8785 requires (it is defined in terms of it), and
 * JavaScript's default sort compares UTF-16 code units, which is the order RFC 8785 asks for.
 * Non-integers are refused rather than risk a number form the Python side would write differently.
 */
export function canonicalJson(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`canonical JSON: ${value} is not a safe integer`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  throw new Error(`canonical JSON: cannot encode ${typeof value}`);
}

// ---------------------------------------------------------------- tar (ustar + pax)

function isPlainName(name) {
  return /^[\x20-\x7e]*$/.test(name) && name.length <= 100;
}

function ustarHeader(name, size, mtime, type) {
  const block = new Uint8Array(512);
  const put = (text, at, width) => block.set(ascii(text).subarray(0, width), at);
  const octal = (n, at, width) => put(n.toString(8).padStart(width - 1, "0"), at, width - 1);
  put(name, 0, 100);
  octal(0o644, 100, 8);
  octal(0, 108, 8);                 // uid
  octal(0, 116, 8);                 // gid
  if (size >= 8 ** 11) throw new Error("tar: member too large");
  octal(size, 124, 12);
  octal(mtime, 136, 12);
  put("        ", 148, 8);          // the checksum counts its own field as spaces
  put(type, 156, 1);
  put("ustar\0" + "00", 257, 8);    // POSIX ustar magic and version
  const sum = block.reduce((a, b) => a + b, 0);
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return block;
}

/** A pax extended header record: "<length> key=value\n", the length counting itself. */
function paxRecord(key, value) {
  const body = utf8(` ${key}=${value}\n`);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return concat(ascii(String(length)), body);
}

function padding(size) {
  return new Uint8Array((512 - (size % 512)) % 512);
}

/**
 * A tar archive as a list of parts (Uint8Array headers and the members' own Blobs/Files or
 * Uint8Arrays), so that documents are streamed from disk, never copied whole into memory.
 * Names that are not short printable ASCII (Chinese file names, say) get a pax `path` record;
 * the ustar name field then holds an ASCII stand-in.
 * @param {{name: string, data: Blob|Uint8Array}[]} members
 */
export function tarParts(members, mtime = 0) {
  const parts = [];
  for (const { name, data } of members) {
    const size = data instanceof Blob ? data.size : data.length;
    let ustarName = name;
    if (!isPlainName(name)) {
      const pax = paxRecord("path", name);
      const stand = name.replace(/[^\x20-\x7e]/g, "_").slice(-100);
      parts.push(ustarHeader(`PaxHeader/${stand}`.slice(0, 100), pax.length, mtime, "x"), pax, padding(pax.length));
      ustarName = stand;
    }
    parts.push(ustarHeader(ustarName, size, mtime, "0"), data, padding(size));
  }
  parts.push(new Uint8Array(1024));  // two zero blocks end the archive
  return parts;
}

/** The members of a tar archive held in memory (for opening envelopes in tests and checks). */
export function readTar(bytes) {
  const members = [];
  let at = 0;
  let pending = {};
  const text = (from, width) => {
    const field = bytes.subarray(from, from + width);
    const end = field.indexOf(0);
    return decoder.decode(end < 0 ? field : field.subarray(0, end));
  };
  const number = (from, width) => parseInt(text(from, width).trim() || "0", 8);
  while (at + 512 <= bytes.length) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const size = number(at + 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const prefix = text(at + 345, 155);
    const name = (prefix ? `${prefix}/` : "") + text(at, 100);
    const body = bytes.subarray(at + 512, at + 512 + size);
    at += 512 + size + ((512 - (size % 512)) % 512);
    if (type === "x") {
      pending = parsePax(body);
    } else if (type === "g") {
      continue;
    } else {
      if (type === "0" || type === "\0") members.push({ name: pending.path || name, data: body });
      pending = {};
    }
  }
  return members;
}

function parsePax(body) {
  const records = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = parseInt(decoder.decode(body.subarray(at, space)), 10);
    const record = decoder.decode(body.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    records[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return records;
}

/** A document's file name as the package allows it (bidding/package.py): one printable component. */
export function checkDocumentName(name) {
  if (!name || name === "." || name === ".." || /[/\\]/.test(name) || /\p{C}/u.test(name)
      || utf8(name).length > 255) {
    throw new Error(`not a usable document name: ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * The bid package: bid.json first, then the documents under documents/. Version 2 (the default)
 * lists each document's name and size, and reads nothing here; version 1 also lists its SHA-256,
 * which costs a read of every document before the sealing reads it again.
 */
export async function packageParts(bid, documents, { mtime = 0, onProgress, version = LATEST } = {}) {
  documents.forEach(({ name }) => checkDocumentName(name));
  const listed = [];
  let done = 0;
  const total = documents.reduce((n, d) => n + d.file.size, 0);
  if (version === 2) {
    const bidJson = utf8(canonicalJson({ ...bid, v: 2,
      documents: documents.map(({ name, file }) => ({ name: `documents/${name}`, size: file.size })) }));
    if (bidJson.length > MAX_BID_JSON) throw new Error("bid.json is larger than 1 MiB");
    return tarParts([{ name: "bid.json", data: bidJson },
      ...documents.map(({ name, file }) => ({ name: `documents/${name}`, data: file }))], mtime);
  }
  for (const { name, file } of documents) {
    const hash = new Sha256();
    for await (const piece of readBlob(file)) {
      hash.update(piece);
      done += piece.length;
      if (onProgress) onProgress(done, total);
    }
    listed.push({ name: `documents/${name}`, sha256: hex(hash.digest()), size: file.size });
  }
  const bidJson = utf8(canonicalJson({ ...bid, documents: listed }));
  if (bidJson.length > MAX_BID_JSON) throw new Error("bid.json is larger than 1 MiB");
  return tarParts([{ name: "bid.json", data: bidJson },
    ...documents.map(({ name, file }) => ({ name: `documents/${name}`, data: file }))], mtime);
}

async function* readBlob(blob) {
  for (let at = 0; at < blob.size; at += READ_SLICE) {
    yield new Uint8Array(await blob.slice(at, at + READ_SLICE).arrayBuffer());
  }
}

async function* readParts(parts) {
  for (const part of parts) {
    if (part instanceof Blob) yield* readBlob(part);
    else if (part.length) yield part;
  }
}

function partsSize(parts) {
  return parts.reduce((n, p) => n + (p instanceof Blob ? p.size : p.length), 0);
}

// ---------------------------------------------------------------- sealing

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

function hpkeInfo(tender, lot, bidder) {
  return utf8(`ebid-envelope-v1\0${tender}\0${lot}\0${bidder}`);
}

function commitmentOf(tender, lot, bidder, salt, packageHash, version = 1) {
  return sha256(concat(utf8(`ebid-commitment-v${version}\0${tender}\0${lot}\0${bidder}\0`), salt, packageHash));
}

function nonce(prefix, index, last) {
  return concat(prefix, u32(index), new Uint8Array([last ? 1 : 0]));
}

function signedMessage(statement) {
  return concat(utf8(`ebid-envelope-signature-v${statement.v}\n`), utf8(canonicalJson(statement)));
}

/** Version 2's statement: the header's hash, the plaintext's size and the hash of every chunk's tag. */
function statementV2(header, headerHash, plaintextSize, tagsHash, commitment) {
  return { v: 2, tender: header.tender, lot: header.lot, bidder: header.bidder, kid: header.kid,
    header: hex(headerHash), plaintext_size: plaintextSize, tags: hex(tagsHash), commitment };
}

/** "2026-12-01T08:00:00Z": UTC to the second, as the header wants it. */
export function timestamp(date = new Date()) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Seal a package (a list of parts from packageParts/tarParts) into an envelope.
 *
 * @param opts.tender, opts.lot, opts.bidder  the platform's ids and the bidder's credit code
 * @param opts.openingKey  raw 32-byte X25519 public key of the tender's opening key
 * @param opts.bidderKey   raw 32-byte X25519 public key of the bidder (so it can open its own bid)
 * @param opts.signingKey  the bidder's Ed25519 private CryptoKey; opts.signerPublic its raw public key
 * @param opts.fixed       test vectors only: {dataKey, salt, noncePrefix, ephemeral: [opening, bidder]}
 *                         (the HPKE ephemeral private keys, raw)
 * @param opts.version     the format version to write: 2 (the default) or 1
 * @returns {{blob: Blob, size, header, headerBytes, commitment, envelopeHash, statement}}
 *          (envelopeHash is the hex SHA-256 of the whole file, the name the receipt gives it)
 */
export async function seal({ tender, lot, bidder, openingKey, bidderKey, signingKey, signerPublic, parts,
  chunkSize = 65536, created = new Date(), onProgress, fixed = {}, version = LATEST }) {
  if (version !== 1 && version !== 2) throw new Error("the envelope's version is 1 or 2");
  if (!(chunkSize >= 4096 && chunkSize <= 16777216 && (chunkSize & (chunkSize - 1)) === 0)) {
    throw new Error("chunk size must be a power of two from 4096 to 16 MiB");
  }
  const dataKey = fixed.dataKey || randomBytes(32);
  const salt = fixed.salt || randomBytes(32);
  const noncePrefix = fixed.noncePrefix || randomBytes(7);
  const info = hpkeInfo(tender, lot, bidder);

  // Both recipients wrap the same data key (the commitment is what ties them to one plaintext).
  const recipients = [];
  for (const [i, [role, publicKey]] of [["opening", openingKey], ["bidder", bidderKey]].entries()) {
    const params = { recipientPublicKey: await suite.kem.deserializePublicKey(publicKey), info };
    if (fixed.ephemeral) params.ekm = await x25519Pair(fixed.ephemeral[i]);  // test vectors only
    const { enc, ct } = await suite.seal(params, dataKey);
    recipients.push({ role, kid: kid(publicKey), enc: b64(new Uint8Array(enc)), ct: b64(new Uint8Array(ct)) });
  }
  const header = { v: version, suite: SUITE, tender, lot, bidder, kid: kid(openingKey), recipients,
    chunk_size: chunkSize, nonce_prefix: b64(noncePrefix), created: timestamp(created) };
  const headerBytes = utf8(canonicalJson(header));
  if (headerBytes.length > MAX_HEADER) throw new Error("envelope header too large");
  const prefix = concat(MAGICS[version], u32(headerBytes.length), headerBytes);
  const aad = sha256(prefix);
  const key = await crypto.subtle.importKey("raw", dataKey, "AES-GCM", false, ["encrypt"]);

  const envelopeHash = new Sha256().update(prefix);
  const packageHash = new Sha256();
  const tagsHash = new Sha256();  // version 2: every chunk's 16-byte tag, in order
  const blobs = [new Blob([prefix])];
  let group = [];
  let groupSize = 0;
  let index = 0;
  const total = 32 + partsSize(parts);
  let done = 0;

  const emit = async (piece, last) => {
    const ct = new Uint8Array(await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce(noncePrefix, index, last), additionalData: aad, tagLength: 128 }, key, piece));
    const record = concat(new Uint8Array([last ? 1 : 0]), u32(ct.length), ct);
    envelopeHash.update(record);
    tagsHash.update(ct.subarray(ct.length - 16));
    group.push(record);
    groupSize += record.length;
    // Hand ciphertext over to Blobs as we go: the browser may keep them on disk, not in our heap.
    if (groupSize >= BLOB_GROUP || last) { blobs.push(new Blob(group)); group = []; groupSize = 0; }
    index += 1;
    done += piece.length;
    if (onProgress) onProgress(done, total);
  };

  // The plaintext stream (salt || package) cut into chunk_size pieces; a full piece is sealed
  // only once more input shows it is not the last one.
  const piece = new Uint8Array(chunkSize);
  let filled = 0;
  const feed = async (bytes) => {
    let at = 0;
    while (at < bytes.length) {
      if (filled === chunkSize) { await emit(piece, false); filled = 0; }
      const take = Math.min(chunkSize - filled, bytes.length - at);
      piece.set(bytes.subarray(at, at + take), filled);
      filled += take;
      at += take;
    }
  };
  await feed(salt);
  for await (const bytes of readParts(parts)) {
    packageHash.update(bytes);
    await feed(bytes);
  }
  await emit(piece.subarray(0, filled), true);

  const commitment = commitmentOf(tender, lot, bidder, salt, packageHash.digest(), version);
  const whole = envelopeHash.clone();
  const statement = version === 1
    ? { v: 1, tender, lot, bidder, kid: kid(openingKey), envelope: hex(envelopeHash.digest()),
      commitment: hex(commitment) }
    : statementV2(header, aad, total, tagsHash.digest(), hex(commitment));
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", signingKey, signedMessage(statement)));
  const trailerJson = utf8(canonicalJson({ commitment: hex(commitment), signer: kid(signerPublic), signature: b64(signature) }));
  const trailer = concat(trailerJson, u32(trailerJson.length), END);
  blobs.push(new Blob([trailer]));
  whole.update(trailer);
  const blob = new Blob(blobs, { type: "application/octet-stream" });
  return { blob, size: blob.size, header, headerBytes, commitment: hex(commitment),
    envelopeHash: hex(whole.digest()), statement, dataKey };
}

// ---------------------------------------------------------------- opening

/** Framing: header, chunk records and trailer of an envelope held in memory. */
export function parseEnvelope(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.length < 12 ? "" : hex(bytes.subarray(0, 8));
  const version = magic === hex(MAGIC) ? 1 : magic === hex(MAGIC_V2) ? 2 : 0;
  if (!version) throw new Error("not an ebid envelope");
  const headerLength = view.getUint32(8);
  if (headerLength > MAX_HEADER) throw new Error("header too large");
  const headerBytes = bytes.subarray(12, 12 + headerLength);
  const header = JSON.parse(decoder.decode(headerBytes));
  if (decoder.decode(headerBytes) !== canonicalJson(header)) throw new Error("header is not canonical JSON");
  if (header.v !== version || header.suite !== SUITE) throw new Error("unsupported envelope version or suite");
  if (hex(bytes.subarray(bytes.length - 8)) !== hex(END)) throw new Error("envelope has no end marker");
  const trailerLength = view.getUint32(bytes.length - 12);
  if (trailerLength > MAX_TRAILER) throw new Error("trailer too large");
  const trailerStart = bytes.length - 12 - trailerLength;
  const trailer = JSON.parse(decoder.decode(bytes.subarray(trailerStart, bytes.length - 12)));
  const chunks = [];
  let at = 12 + headerLength;
  while (at < trailerStart) {
    const flag = bytes[at];
    const length = view.getUint32(at + 1);
    if (flag > 1 || at + 5 + length > trailerStart) throw new Error("bad chunk framing");
    chunks.push({ last: flag === 1, ciphertext: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
    if (flag === 1) break;
  }
  if (at !== trailerStart || !chunks.length || !chunks[chunks.length - 1].last) throw new Error("bad chunk framing");
  return { version, header, headerBytes, chunks, trailer, signed: bytes.subarray(0, trailerStart) };
}

/** The data key, unwrapped with a raw 32-byte X25519 private key of one of the recipients. */
export async function unwrap(header, x25519PrivateKey) {
  const privateKey = await suite.kem.deserializePrivateKey(x25519PrivateKey);
  const publicRaw = await x25519PublicOf(x25519PrivateKey);
  const recipient = header.recipients.find((r) => r.kid === kid(publicRaw));
  if (!recipient) throw new Error("this key is not a recipient of the envelope");
  const pt = await suite.open({ recipientKey: privateKey, enc: fromB64(recipient.enc),
    info: hpkeInfo(header.tender, header.lot, header.bidder) }, fromB64(recipient.ct));
  return new Uint8Array(pt);
}

/** The raw public key of a raw X25519 private key (WebCrypto computes it on a JWK export). */
/** A CryptoKeyPair for a raw X25519 private key (HPKE's fixed ephemeral key in test vectors). */
async function x25519Pair(rawPrivate) {
  const publicKey = await crypto.subtle.importKey("raw", await x25519PublicOf(rawPrivate), { name: "X25519" }, true, []);
  return { privateKey: await importOkpPrivate("X25519", rawPrivate, ["deriveBits"], true), publicKey };
}

export async function x25519PublicOf(rawPrivate) {
  return okpPublicOf("X25519", rawPrivate, ["deriveBits"]);
}

export async function ed25519PublicOf(rawPrivate) {
  return okpPublicOf("Ed25519", rawPrivate, ["sign"]);
}

// PKCS#8 wrappers of a raw 32-byte OKP private key (RFC 8410): only the algorithm OID differs.
const PKCS8_PREFIX = { X25519: "302e020100300506032b656e04220420", Ed25519: "302e020100300506032b657004220420" };

export async function importOkpPrivate(name, rawPrivate, usages, extractable = false) {
  return crypto.subtle.importKey("pkcs8", concat(fromHex(PKCS8_PREFIX[name]), rawPrivate), { name }, extractable, usages);
}

async function okpPublicOf(name, rawPrivate, usages) {
  const key = await importOkpPrivate(name, rawPrivate, usages, true);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return fromB64Url(jwk.x);
}

export function fromB64Url(text) {
  return fromB64(text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "="));
}

/**
 * Open an envelope held in memory with its data key: decrypt every chunk in order, split off the
 * salt, check the commitment, and (given the signer's raw Ed25519 public key) the signature.
 * @returns {{header, trailer, package, commitment, members, bid, envelopeHash, statementHash}}
 */
export async function openEnvelope(bytes, dataKey, { signerPublic, tar = true } = {}) {
  const { version, header, headerBytes, chunks, trailer, signed } = parseEnvelope(bytes);
  const aad = sha256(concat(MAGICS[version], u32(headerBytes.length), headerBytes));
  const key = await crypto.subtle.importKey("raw", dataKey, "AES-GCM", false, ["decrypt"]);
  const prefix = fromB64(header.nonce_prefix);
  const pieces = [];
  for (const [i, { last, ciphertext }] of chunks.entries()) {
    if (!last && ciphertext.length !== header.chunk_size + 16) throw new Error("a middle chunk is not full");
    pieces.push(new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce(prefix, i, last), additionalData: aad, tagLength: 128 }, key, ciphertext)));
  }
  const plaintext = concat(...pieces);
  const salt = plaintext.subarray(0, 32);
  const pkg = plaintext.subarray(32);
  const commitment = hex(commitmentOf(header.tender, header.lot, header.bidder, salt, sha256(pkg), version));
  if (commitment !== trailer.commitment) throw new Error("the plaintext does not match the commitment");
  const tags = new Sha256();
  for (const { ciphertext } of chunks) tags.update(ciphertext.subarray(ciphertext.length - 16));
  const statement = version === 1
    ? { v: 1, tender: header.tender, lot: header.lot, bidder: header.bidder, kid: header.kid,
      envelope: hex(sha256(signed)), commitment }
    : statementV2(header, aad, plaintext.length, tags.digest(), commitment);
  // What the signature covers as one hash (the platform's envelope_hash): version 1's signed hash of
  // the file before the trailer, version 2's hash of the signed bytes themselves.
  const statementHash = version === 1 ? statement.envelope : hex(sha256(signedMessage(statement)));
  if (signerPublic) {
    if (kid(signerPublic) !== trailer.signer) throw new Error("the envelope was signed by another key");
    const verifyKey = await crypto.subtle.importKey("raw", signerPublic, { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify("Ed25519", verifyKey, fromB64(trailer.signature), signedMessage(statement));
    if (!ok) throw new Error("bad signature");
  }
  const opened = { header, trailer, package: pkg, commitment, statementHash, envelopeHash: hex(sha256(bytes)) };
  if (!tar) return opened;  // the envelope layer alone (test vectors whose package is not a tar)
  const members = readTar(pkg);
  if (!members.length || members[0].name !== "bid.json") throw new Error("the package does not start with bid.json");
  const bid = JSON.parse(decoder.decode(members[0].data));
  if (bid.v !== version) throw new Error("bid.json's version is not the envelope's");
  return { ...opened, version, members, bid };
}
