// An independent ActivityPub server for Homeport's fediverse tests: one Fedify actor on
// loopback, driven over a small JSON control API by the Python tests.
//
//   node fedify_peer.mjs PORT [NAME]
//
// The actor is http://127.0.0.1:PORT/users/NAME (default "bob"); its inbox and the shared inbox
// are Fedify's, so every activity Homeport sends is checked by Fedify's own HTTP Signature,
// Digest and actor/key-owner verification before the peer records it. The control API, under
// /_control/, is for the test only:
//
//   POST /_control/route    {"host": "alice.example.test", "to": "127.0.0.1:8123"}
//        requests this peer makes to https://alice.example.test/… go to that loopback port
//        with the Host kept and X-Forwarded-Proto: https (a TLS proxy, as operators run);
//        {"to": null} forgets the route
//   POST /_control/follow   {"account": "alice@alice.example.test"}  (WebFinger, then Follow)
//   POST /_control/unfollow {"actor": "<actor id>"}                     (Undo of that Follow)
//   POST /_control/reply    {"inReplyTo": "<object URL>", "content": "<p>…</p>"}
//   POST /_control/like     {"object": "<object URL>"}
//   GET  /_control/state    what it received (activities, in order), whom it follows, who
//                           follows it
//
// Like Mastodon, it acts on a Move from an account it follows: the target must list the old
// actor in alsoKnownAs; then it follows the target and stops following the old account.

import http from "node:http";
import crypto from "node:crypto";
import { Temporal } from "@js-temporal/polyfill";
import { Agent, setGlobalDispatcher } from "undici";
import {
  Accept,
  Activity,
  Create,
  Endpoints,
  Follow,
  Like,
  MemoryKvStore,
  Move,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Undo,
  createFederation,
  generateCryptoKeyPair,
  isActor,
} from "@fedify/fedify";

const PORT = Number(process.argv[2]);
const NAME = process.argv[3] || "bob";
if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error("usage: node fedify_peer.mjs PORT [NAME]");
  process.exit(2);
}
const ORIGIN = `http://127.0.0.1:${PORT}`;
const MAX_BODY = 1 << 20;

// --- outbound: named hosts to loopback ports --------------------------------------------

const routes = new Map();

function headerPairs(headers) {
  if (!headers) return [];
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) return headers.map(([k, v]) => [String(k), String(v)]);
    const pairs = [];
    for (let i = 0; i < headers.length; i += 2) pairs.push([String(headers[i]), String(headers[i + 1])]);
    return pairs;
  }
  if (typeof headers[Symbol.iterator] === "function") return [...headers].map(([k, v]) => [String(k), String(v)]);
  return Object.entries(headers).map(([k, v]) => [k, String(v)]);
}

class Router extends Agent {
  dispatch(opts, handler) {
    const origin = new URL(opts.origin);
    const to = routes.get(origin.hostname);
    if (to) {
      const headers = headerPairs(opts.headers).filter(([k]) => !["host", "x-forwarded-proto"].includes(k.toLowerCase()));
      headers.push(["host", origin.host], ["x-forwarded-proto", origin.protocol.replace(":", "")]);
      opts = { ...opts, origin: `http://${to}`, headers: headers.flat() };
    }
    return super.dispatch(opts, handler);
  }
}
// Node's own fetch (which Fedify calls) takes its dispatcher from the global undici sets.
setGlobalDispatcher(new Router({ connect: { timeout: 5000 }, headersTimeout: 10000, bodyTimeout: 10000 }));

// --- the actor ----------------------------------------------------------------------------

const keyPairs = [
  await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
  await generateCryptoKeyPair("Ed25519"),
];
const received = []; // {type, id, actor, json, recipient, at}
const following = new Map(); // actor id -> {follow: follow id, accepted: bool}
const followers = new Map(); // actor id -> inbox URL

const federation = createFederation({ kv: new MemoryKvStore(), allowPrivateAddress: true });

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== NAME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: `Peer ${identifier}`,
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => (identifier === NAME ? keyPairs : []));

const notes = new Map();
federation.setObjectDispatcher(Note, "/notes/{id}", async (_ctx, { id }) => notes.get(id) ?? null);

async function remember(ctx, activity) {
  received.push({
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    recipient: ctx.recipient ?? null,
    json: await activity.toJsonLd({ format: "compact" }),
    at: Date.now(),
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Follow, async (ctx, follow) => {
    await remember(ctx, follow);
    const follower = await follow.getActor(ctx);
    if (!isActor(follower) || follower.inboxId == null) return;
    followers.set(follower.id.href, follower.inboxId.href);
    await ctx.sendActivity({ identifier: NAME }, follower, new Accept({
      id: new URL(`#accept-${crypto.randomUUID()}`, ctx.getActorUri(NAME)),
      actor: ctx.getActorUri(NAME),
      object: follow,
    }));
  })
  .on(Accept, async (ctx, accept) => {
    await remember(ctx, accept);
    const who = accept.actorId?.href;
    if (who && following.has(who)) following.get(who).accepted = true;
  })
  .on(Move, async (ctx, move) => {
    await remember(ctx, move);
    await followMove(ctx, move);
  })
  .on(Activity, remember);

// Mastodon's rules for a Move it receives (app/lib/activitypub/activity/move.rb): the mover
// is the activity's actor and its object; we must follow it; the target is fetched and must
// name the mover in alsoKnownAs. Then the follow moves to the target.
async function followMove(ctx, move) {
  const origin = move.actorId?.href;
  if (!origin || move.objectId?.href !== origin || !following.has(origin)) return;
  const target = await move.getTarget({ documentLoader: ctx.documentLoader });
  if (!isActor(target) || target.id == null) return;
  const aliases = target.aliasIds.map((u) => u.href);
  if (!aliases.includes(origin)) return;
  await sendFollow(ctx, target);
  await sendUndo(ctx, origin);
}

async function sendFollow(ctx, actor) {
  const id = new URL(`/follows/${crypto.randomUUID()}`, ORIGIN);
  following.set(actor.id.href, { follow: id.href, accepted: false, inbox: actor.inboxId?.href });
  await ctx.sendActivity({ identifier: NAME }, actor, new Follow({
    id,
    actor: ctx.getActorUri(NAME),
    object: actor.id,
  }));
  return id.href;
}

async function sendUndo(ctx, actorId) {
  const entry = following.get(actorId);
  if (!entry) return false;
  following.delete(actorId);
  const actor = await ctx.lookupObject(actorId);
  if (!isActor(actor)) return false;
  await ctx.sendActivity({ identifier: NAME }, actor, new Undo({
    id: new URL(`/undo/${crypto.randomUUID()}`, ORIGIN),
    actor: ctx.getActorUri(NAME),
    object: new Follow({ id: new URL(entry.follow), actor: ctx.getActorUri(NAME), object: new URL(actorId) }),
  }));
  return true;
}

async function authorOf(ctx, url) {
  const object = await ctx.lookupObject(url);
  if (object == null) throw new Error(`cannot fetch ${url}`);
  const author = object.attributionId ?? null;
  if (author == null) throw new Error(`${url} names no author (attributedTo)`);
  const actor = await ctx.lookupObject(author.href);
  if (!isActor(actor)) throw new Error(`${author.href} is not an actor`);
  return { object, actor };
}

// --- control API --------------------------------------------------------------------------

const control = {
  "POST /_control/route": async (_ctx, body) => {
    if (body.to) routes.set(String(body.host), String(body.to));
    else routes.delete(String(body.host));
    return { routes: Object.fromEntries(routes) };
  },
  "POST /_control/follow": async (ctx, body) => {
    const actor = await ctx.lookupObject(String(body.account));
    if (!isActor(actor)) throw new Error(`${body.account} is not an actor`);
    const follow = await sendFollow(ctx, actor);
    return { actor: actor.id.href, follow, inbox: actor.inboxId?.href ?? null };
  },
  "POST /_control/unfollow": async (ctx, body) => ({ undone: await sendUndo(ctx, String(body.actor)) }),
  "POST /_control/reply": async (ctx, body) => {
    const { object, actor } = await authorOf(ctx, String(body.inReplyTo));
    const id = crypto.randomUUID();
    const note = new Note({
      id: ctx.getObjectUri(Note, { id }),
      attribution: ctx.getActorUri(NAME),
      to: PUBLIC_COLLECTION,
      ccs: [actor.id],
      content: String(body.content),
      replyTarget: object.id,
      published: Temporal.Now.instant(),
    });
    notes.set(id, note);
    const create = new Create({
      id: new URL(`/creates/${id}`, ORIGIN),
      actor: ctx.getActorUri(NAME),
      object: note,
      to: PUBLIC_COLLECTION,
      ccs: [actor.id],
    });
    await ctx.sendActivity({ identifier: NAME }, actor, create);
    return { note: note.id.href, create: create.id.href };
  },
  "POST /_control/like": async (ctx, body) => {
    const { object, actor } = await authorOf(ctx, String(body.object));
    const like = new Like({
      id: new URL(`/likes/${crypto.randomUUID()}`, ORIGIN),
      actor: ctx.getActorUri(NAME),
      object: object.id,
    });
    await ctx.sendActivity({ identifier: NAME }, actor, like);
    return { like: like.id.href };
  },
  "GET /_control/state": async () => ({
    actor: `${ORIGIN}/users/${NAME}`,
    received,
    following: Object.fromEntries(following),
    followers: [...followers.keys()],
  }),
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res, status, json) {
  const data = Buffer.from(JSON.stringify(json));
  res.writeHead(status, { "content-type": "application/json", "content-length": data.length });
  res.end(data);
}

const server = http.createServer(async (req, res) => {
  try {
    // Behind a route (another peer's, or a test's proxy) the public origin is the one the
    // client asked for: Host and X-Forwarded-Proto, as a TLS proxy passes them on.
    const proto = req.headers["x-forwarded-proto"] === "https" ? "https" : "http";
    const url = new URL(req.url, req.headers.host ? `${proto}://${req.headers.host}` : ORIGIN);
    const body = await readBody(req);
    const route = control[`${req.method} ${url.pathname}`];
    if (route) {
      const ctx = federation.createContext(new URL(ORIGIN), undefined);
      const args = body.length ? JSON.parse(body.toString("utf8")) : {};
      return send(res, 200, await route(ctx, args));
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
    }
    const hasBody = !["GET", "HEAD"].includes(req.method);
    const answer = await federation.fetch(
      new Request(url, { method: req.method, headers, body: hasBody ? body : undefined }),
      { contextData: undefined },
    );
    const out = Buffer.from(await answer.arrayBuffer());
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(out);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) send(res, 500, { error: String(error?.message ?? error) });
    else res.end();
  }
});

server.listen(PORT, "127.0.0.1", () => console.log(`fedify peer ${NAME} on ${ORIGIN}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
