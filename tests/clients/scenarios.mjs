// The client scenarios of tests/clients, run by test_clients.py as `node scenarios.mjs <name>`.
//
// Each scenario drives the real npm clients: kinto.js (`kinto`, offline-first, on the IndexedDB
// of `fake-indexeddb`) and kinto-http (`kinto-http` 5, and the KintoClient that `kinto` ships).
// Configuration comes from the environment (KINTO_URL, KINTO_USER, KINTO_PASSWORD, KINTO_BUCKET,
// KINTO_COLLECTION); the result is one JSON object on the last line of stdout. A scenario that
// needs the test to act on the server half-way prints {"pause": "<why>"} and waits for a line on
// stdin. Every wait is bounded, and nothing here talks to anything but KINTO_URL.
import "fake-indexeddb/auto";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);
const Kinto = require("kinto").default;
const { KintoClient } = require("kinto");
const KintoHttp = require("kinto-http").default;

const URL = process.env.KINTO_URL;
const BUCKET = process.env.KINTO_BUCKET || "b";
const COLLECTION = process.env.KINTO_COLLECTION || "c";
const AUTH =
  "Basic " +
  Buffer.from(`${process.env.KINTO_USER}:${process.env.KINTO_PASSWORD}`).toString("base64");
const HEADERS = { Authorization: AUTH };
const { MANUAL, SERVER_WINS, CLIENT_WINS } = Kinto.syncStrategy;

if (!URL || !URL.startsWith("http://127.0.0.1:")) {
  throw new Error("KINTO_URL must be a loopback URL");
}

// One offline-first device: its own IndexedDB database, the shared collection.
function device(name) {
  const kinto = new Kinto({
    remote: URL,
    bucket: BUCKET,
    headers: HEADERS,
    adapterOptions: { dbName: `device-${name}` },
  });
  return kinto.collection(COLLECTION);
}

// The records a device holds locally, as the server would show them (no local fields).
async function localState(coll) {
  const { data } = await coll.list({}, { includeDeleted: true });
  const state = {};
  for (const record of data) {
    const { _status, ...rest } = record;
    state[record.id] = { ...rest, _status };
  }
  return state;
}

async function sync(coll, strategy = MANUAL) {
  const result = await coll.sync({ strategy });
  return {
    ok: result.ok,
    conflicts: result.conflicts.length,
    created: result.created.length,
    updated: result.updated.length,
    deleted: result.deleted.length,
    published: result.published.length,
    resolved: result.resolved.length,
    errors: result.errors.map((e) => String(e.message || e)),
    lastModified: result.lastModified,
  };
}

async function createMany(coll, count, make) {
  const ids = [];
  await coll.execute((txn) => {
    for (let i = 0; i < count; i++) {
      const record = { ...make(i), id: `r${String(i).padStart(4, "0")}`, _status: "created" };
      txn.create(record);
      ids.push(record.id);
    }
  });
  return ids;
}

async function edit(coll, id, changes) {
  const { data } = await coll.get(id);
  await coll.update({ ...data, ...changes });
}

const id = (i) => `r${String(i).padStart(4, "0")}`;

// 1. Two devices sync one collection: creates, edits on both sides, the three conflict
// strategies, deletions, 2,000 records; both end with the server's state.
async function twoDevices() {
  const a = device("a");
  const b = device("b");
  const log = {};
  await createMany(a, 2000, (i) => ({ title: `record ${i}`, n: i }));
  log.a_push = await sync(a);
  log.b_pull = await sync(b);

  // Non-conflicting edits and deletions on both sides.
  for (let i = 0; i < 10; i++) await edit(a, id(i), { title: `a edited ${i}` });
  for (let i = 10; i < 20; i++) await edit(b, id(i), { title: `b edited ${i}` });
  for (let i = 20; i < 30; i++) await a.delete(id(i));
  for (let i = 30; i < 40; i++) await b.delete(id(i));
  const bCreated = await b.create({ title: "made on b" });
  log.b_created_id = bCreated.data.id;
  log.edits_a = await sync(a);
  log.edits_b = await sync(b);
  log.edits_a2 = await sync(a);

  // MANUAL: b gets the conflict, resolves it by merging, syncs again.
  await edit(a, id(41), { title: "a wins the race", from_a: true });
  await edit(b, id(41), { title: "b lost the race", from_b: true });
  log.manual_a = await sync(a);
  log.manual_b = await sync(b, MANUAL);
  const conflicts = (await b.sync({ strategy: MANUAL })).conflicts;
  for (const conflict of conflicts) {
    await b.resolve(conflict, { ...conflict.remote, ...conflict.local, title: "merged" });
  }
  log.manual_b_resolved = conflicts.length;
  log.manual_b2 = await sync(b, MANUAL);

  // SERVER_WINS: b's edit is dropped for a's.
  await edit(a, id(42), { title: "server version" });
  await edit(b, id(42), { title: "dropped version" });
  log.server_wins_a = await sync(a);
  log.server_wins_b = await sync(b, SERVER_WINS);

  // CLIENT_WINS: b's edit overwrites a's on the server.
  await edit(a, id(43), { title: "overwritten version" });
  await edit(b, id(43), { title: "client version" });
  log.client_wins_a = await sync(a);
  log.client_wins_b = await sync(b, CLIENT_WINS);

  // A deletion against an edit: a deletes, b edits; the server's deletion wins on b.
  await a.delete(id(44));
  await edit(b, id(44), { title: "edited after deletion" });
  log.delete_a = await sync(a);
  log.delete_b = await sync(b, SERVER_WINS);

  // Settle: both devices pull what the other pushed.
  log.final_a = await sync(a);
  log.final_b = await sync(b);
  log.final_a2 = await sync(a);
  return { log, a: await localState(a), b: await localState(b) };
}

// 2. Permissions-only writes from the JS clients keep the object's data.
async function permissionsOnly() {
  const alice = "account:alice";
  const http5 = new KintoHttp(URL, { headers: HEADERS });
  const current = new KintoClient(URL, { headers: HEADERS });
  const out = {};
  // kinto-http 5: setPermissions on the bucket and the collection.
  out.bucket = (await http5.bucket(BUCKET).setPermissions({ read: [alice] })).data;
  out.collection = (
    await http5.bucket(BUCKET).collection(COLLECTION).setPermissions({ read: [alice] })
  ).data;
  // kinto's KintoClient: updateRecord with only permissions, then setPermissions.
  const coll = current.bucket(BUCKET).collection(COLLECTION);
  out.record = (await coll.updateRecord({ id: "r1" }, { permissions: { read: [alice] } })).data;
  out.collection2 = (await coll.setPermissions({ write: [alice] })).data;
  return out;
}

// Wrap fetch so that `between` runs after each page of a records listing but the last one.
function interceptPages(between) {
  const original = globalThis.fetch;
  const state = { pages: 0, writes: 0, active: false };
  globalThis.fetch = async (url, options) => {
    const response = await original(url, options);
    const method = (options && options.method) || "GET";
    const listing = method === "GET" && /\/records\?/.test(String(url));
    if (state.active && listing && response.headers.get("Next-Page")) {
      state.pages += 1;
      state.writes += await between(state.pages);
    }
    return response;
  };
  return { state, original };
}

// 3. A paginated pull while another client writes between the pages: nothing is missed.
async function pagedPull() {
  const writer = new KintoClient(URL, { headers: HEADERS });
  const wcoll = writer.bucket(BUCKET).collection(COLLECTION);
  const total = Number(process.env.SEED_RECORDS || 1000);
  // Seeded oldest first: r0000 is the oldest record, on the last page of a listing.
  await wcoll.batch(
    (batch) => {
      for (let i = 0; i < total; i++) batch.createRecord({ id: id(i), title: `seed ${i}` });
    },
    { aggregate: true },
  );
  let fresh = 0;
  // Between pages: one new record, one edit and one deletion of records on pages not yet read
  // (the oldest ones, since the listing goes newest first).
  let victim = 0;
  const { state } = interceptPages(async () => {
    fresh += 1;
    await wcoll.createRecord({ id: `new${String(fresh).padStart(4, "0")}`, title: "written mid-pull" });
    await wcoll.updateRecord({ id: id(victim), title: "edited mid-pull" }, { patch: true });
    await wcoll.deleteRecord(id(victim + 1));
    victim += 2;
    return 3;
  });
  const reader = device("reader");
  // The reader is built after fetch is wrapped, so its requests go through the wrapper.
  state.active = true;
  const first = await sync(reader);
  // Enough changes (the newest 250 seeds) for the next sync to span pages too.
  state.active = false;
  await wcoll.batch(
    (batch) => {
      for (let i = total - 250; i < total; i++) {
        batch.updateRecord({ id: id(i), title: `edited ${i}` }, { patch: true });
      }
    },
    { aggregate: true },
  );
  state.active = true;
  const second = await sync(reader);
  state.active = false;
  const quiet = await sync(reader);
  return {
    log: { first, second, quiet, pages_interrupted: state.pages, writes: state.writes },
    local: await localState(reader),
  };
}

function waitForLine(timeoutMs) {
  const rl = createInterface({ input: process.stdin });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error("no go-ahead on stdin"));
    }, timeoutMs);
    rl.once("line", (line) => {
      clearTimeout(timer);
      rl.close();
      process.stdin.destroy(); // an open stdin would keep node from exiting
      resolve(line);
    });
  });
}

// 4. A device offline across a tombstone compaction ends with the server's state.
async function offlineAcrossCompaction() {
  const a = device("a");
  const writer = new KintoClient(URL, { headers: HEADERS });
  const wcoll = writer.bucket(BUCKET).collection(COLLECTION);
  await createMany(a, 50, (i) => ({ title: `record ${i}` }));
  const log = { first: await sync(a) };
  // While a is offline: deletions (their tombstones get compacted), edits and creations.
  for (let i = 0; i < 10; i++) await wcoll.deleteRecord(id(i));
  for (let i = 10; i < 15; i++) {
    await wcoll.updateRecord({ id: id(i), title: "edited while a was away" }, { patch: true });
  }
  await wcoll.createRecord({ id: "late", title: "created while a was away" });
  console.log(JSON.stringify({ pause: "compact the tombstones, then send a line" }));
  await waitForLine(60_000);
  // What an app does: sync; if the server says the device is too far behind, start over.
  let deviceA = a;
  try {
    log.after = await sync(deviceA);
  } catch (error) {
    log.after_error = String(error.message || error);
    log.after_error_status = error.response ? error.response.status : null;
    await deviceA.clear();
    // clear() forgets the sync timestamp in IndexedDB but not in the Collection object, whose
    // next sync would send the old _since again: open the collection anew (as a reload does).
    deviceA = device("a");
    log.after = await sync(deviceA);
  }
  return { log, local: await localState(deviceA) };
}

const SCENARIOS = { twoDevices, permissionsOnly, pagedPull, offlineAcrossCompaction };

const name = process.argv[2];
if (!SCENARIOS[name]) {
  throw new Error(`unknown scenario ${name}; one of ${Object.keys(SCENARIOS).join(", ")}`);
}
const result = await SCENARIOS[name]();
console.log(JSON.stringify({ result }));
