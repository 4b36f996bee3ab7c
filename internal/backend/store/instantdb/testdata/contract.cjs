// Contract check of instantdbfake against the official client, run by TestOfficialClientContract.
//
// Input (JSON on stdin): {prefix, appId, adminToken, apiURI, goRecordId, goProcessId, schemaFile}
//   prefix: an npm prefix where @instantdb/admin is installed.
// Output (JSON on stdout): {checks: [{name, ok, detail}], goRecord, goTypes, clientRecordId, version}
"use strict";

const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const load = createRequire(path.join(input.prefix, "package.json"));
const admin = load("@instantdb/admin");
const { init, id, i, InstantAPIError } = admin;
const version = JSON.parse(
  fs.readFileSync(path.join(input.prefix, "node_modules", "@instantdb", "admin", "package.json"), "utf8"),
).version;

const checks = [];
function check(name, ok, detail) {
  checks.push({ name, ok: !!ok, detail: detail === undefined ? "" : JSON.stringify(detail) });
}

// expectAPIError runs fn and checks that it rejects with InstantAPIError of status and a message containing text.
async function expectAPIError(name, fn, status, type, text) {
  try {
    const res = await fn();
    check(name, false, { unexpectedSuccess: res });
  } catch (e) {
    const isAPI = e instanceof InstantAPIError;
    const body = e.body || {};
    const msg = String(body.message || e.message || "");
    check(name, isAPI && e.status === status && body.type === type && msg.includes(text), {
      isAPI,
      status: e.status,
      type: body.type,
      message: msg,
    });
  }
}

function typesOf(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj || {})) {
    out[k] = v === null ? "null" : Array.isArray(v) ? "array:" + v.map((x) => typeof x).join(",") : typeof v;
  }
  return out;
}

async function main() {
  const db = init({ appId: input.appId, adminToken: input.adminToken, apiURI: input.apiURI });

  // 1. The reverse direction: read what the Go store wrote, as @ekairos/sandbox's getSandbox does.
  const got = await db.query({ sandbox_sandboxes: { $: { where: { id: input.goRecordId } } } });
  const goRecord = (got.sandbox_sandboxes || [])[0] || null;
  check("read the Go store's record by id", goRecord && goRecord.id === input.goRecordId, got);

  // 1b. The run the Go store recorded is linked to its sandbox through the library's link sandboxProcessSandbox:
  // the library's query sandbox_sandboxes { processes {} } sees it.
  const linked = await db.query({ sandbox_sandboxes: { $: { where: { id: input.goRecordId } }, processes: {} } });
  const procs = ((linked.sandbox_sandboxes || [])[0] || {}).processes || [];
  check(
    "sandbox_sandboxes { processes {} } returns the Go store's run",
    procs.length === 1 && procs[0].id === input.goProcessId && procs[0].sandboxId === input.goRecordId && procs[0].status === "exited",
    linked,
  );

  // 2. Transactions with tx builders and id().
  const sid = id();
  const now = 1763912345678;
  await db.transact(
    db.tx.sandbox_sandboxes[sid].create({
      provider: "daytona",
      status: "creating",
      timeout: 300000,
      runtime: "node22",
      vcpus: 2,
      ports: [3000, 8080],
      purpose: "contract",
      params: { daytona: { ephemeral: true } },
      createdAt: now,
      updatedAt: now,
    }),
  );
  check("create with tx builder", true);
  await expectAPIError(
    "create of an existing id fails",
    () => db.transact(db.tx.sandbox_sandboxes[sid].create({ status: "x" })),
    400,
    "validation-failed",
    "Creating entities that exist: " + sid,
  );
  await db.transact(db.tx.sandbox_sandboxes[sid].update({ status: "active", externalSandboxId: "ext-1", sandboxUrl: "https://x.example" }));
  const missing = id();
  await expectAPIError(
    "strict update of a missing id fails",
    () => db.transact(db.tx.sandbox_sandboxes[missing].update({ status: "x" }, { upsert: false })),
    400,
    "validation-failed",
    "Updating entities that don't exist: " + missing,
  );
  await db.transact(db.tx.sandbox_sandboxes[sid].update({ sandboxUrl: null }, { upsert: false }));
  const afterNull = (await db.query({ sandbox_sandboxes: { $: { where: { id: sid } } } })).sandbox_sandboxes[0];
  check("update with null clears (returned as null)", afterNull && afterNull.sandboxUrl === null && afterNull.status === "active", afterNull);
  check(
    "created record round-trips with its types",
    afterNull &&
      afterNull.createdAt === now &&
      Array.isArray(afterNull.ports) &&
      afterNull.ports[1] === 8080 &&
      afterNull.params.daytona.ephemeral === true &&
      afterNull.vcpus === 2,
    afterNull,
  );

  // 3. Queries with where, order, limit, offset.
  const ids = [];
  for (let k = 0; k < 5; k++) {
    const x = id();
    ids.push(x);
    await db.transact(
      db.tx.sandbox_sandboxes[x].update({ provider: "local", status: k % 2 ? "shutdown" : "active", purpose: "q", createdAt: 100 + k }),
    );
  }
  const q1 = await db.query({
    sandbox_sandboxes: { $: { where: { purpose: "q", status: "active", createdAt: { $gt: 100 } }, order: { createdAt: "desc" }, limit: 2 } },
  });
  check("where + order + limit", JSON.stringify(q1.sandbox_sandboxes.map((r) => r.id)) === JSON.stringify([ids[4], ids[2]]), q1);
  const q2 = await db.query({ sandbox_sandboxes: { $: { where: { purpose: "q" }, order: { createdAt: "asc" }, limit: 2, offset: 2 } } });
  check("offset paging", JSON.stringify(q2.sandbox_sandboxes.map((r) => r.id)) === JSON.stringify([ids[2], ids[3]]), q2);
  const q3 = await db.query({ sandbox_sandboxes: { $: { where: { or: [{ createdAt: { $lt: 101 } }, { createdAt: { $gte: 104 } }], purpose: "q" } } } });
  check("or + $lt/$gte", q3.sandbox_sandboxes.length === 2, q3);
  const q4 = await db.query({ sandbox_sandboxes: { $: { where: { purpose: "q" } } }, sandbox_volumes: {} });
  check("two namespaces, default order", q4.sandbox_sandboxes.length === 5 && Array.isArray(q4.sandbox_volumes), q4);
  await expectAPIError(
    "order on an unindexed attribute is rejected",
    () => db.query({ sandbox_sandboxes: { $: { order: { runtime: "asc" } } } }),
    400,
    "validation-failed",
    "is not indexed",
  );
  await expectAPIError(
    "comparison on an unindexed attribute is rejected",
    () => db.query({ sandbox_sandboxes: { $: { where: { timeout: { $gt: 1 } } } } }),
    400,
    "validation-failed",
    "must be indexed to use comparison operators",
  );

  // 4. Delete.
  await db.transact(db.tx.sandbox_sandboxes[ids[0]].delete());
  const q5 = await db.query({ sandbox_sandboxes: { $: { where: { id: ids[0] } } } });
  check("delete", q5.sandbox_sandboxes.length === 0, q5);

  // 5. Authentication errors as the client surfaces them.
  const bad = init({ appId: input.appId, adminToken: id(), apiURI: input.apiURI });
  await expectAPIError("wrong admin token", () => bad.query({ sandbox_sandboxes: {} }), 400, "record-not-found", "app-admin-token");

  // 6. The generated instant.schema.ts, evaluated with the official schema builder, and a client using it
  //    (client-side validation; the client then sends throw-on-missing-attrs? and inference? true).
  const src = fs.readFileSync(input.schemaFile, "utf8");
  const start = src.indexOf("i.schema(");
  const end = src.indexOf("\n});", start);
  const schema = new Function("i", "return " + src.slice(start, end + 3) + ";")(i);
  const attrs = schema.entities.sandbox_sandboxes.attrs;
  check(
    "schema: sandbox_sandboxes types and indexes",
    attrs.createdAt.valueType === "number" &&
      attrs.createdAt.config.indexed === true &&
      attrs.status.valueType === "string" &&
      attrs.ports.valueType === "json" &&
      attrs.ports.config.indexed === false &&
      attrs.params.valueType === "json",
    { createdAt: attrs.createdAt, ports: attrs.ports },
  );
  check("schema: every entity", ["sandbox_sandboxes", "sandbox_processes", "sandbox_workspaces", "sandbox_volumes", "sandbox_setups"].every((e) => schema.entities[e]), Object.keys(schema.entities));
  const sdb = init({ appId: input.appId, adminToken: input.adminToken, apiURI: input.apiURI, schema });
  const wid = id();
  await sdb.transact(sdb.tx.sandbox_workspaces[wid].create({ name: "w", provider: "local", status: "active", createdAt: 7, params: { a: 1 } }));
  const ws = await sdb.query({ sandbox_workspaces: { $: { where: { status: "active" }, order: { createdAt: "desc" }, limit: 10 } } });
  check("schema client: create + ordered query", ws.sandbox_workspaces.length === 1 && ws.sandbox_workspaces[0].id === wid, ws);
  // The generated schema declares the link: a client with it reads the run's one sandbox as an object, and
  // links a run of its own the library's way.
  const back = await sdb.query({ sandbox_processes: { $: { where: { id: input.goProcessId } }, sandbox: {} } });
  const run = (back.sandbox_processes || [])[0] || {};
  check("schema client: sandbox_processes { sandbox {} } is the one sandbox", run.sandbox && !Array.isArray(run.sandbox) && run.sandbox.id === input.goRecordId, back);
  const pid = id();
  await sdb.transact(
    sdb.tx.sandbox_processes[pid].update({ kind: "command", mode: "foreground", status: "running", provider: "sprites", command: "ls", startedAt: 9 }).link({ sandbox: input.goRecordId }),
  );
  const both = await db.query({ sandbox_sandboxes: { $: { where: { id: input.goRecordId } }, processes: {} } });
  check("schema client: a run linked with .link({ sandbox }) is listed too", (((both.sandbox_sandboxes || [])[0] || {}).processes || []).length === 2, both);
  try {
    await sdb.transact(sdb.tx.sandbox_workspaces[id()].update({ noSuchField: 1 }));
    check("schema client: unknown attribute rejected", false, "accepted");
  } catch (e) {
    check("schema client: unknown attribute rejected", true, String(e.message || e));
  }

  // 7. A record written as @ekairos/sandbox writes it, for the Go store to read.
  const clientRecordId = id();
  await db.transact(
    db.tx.sandbox_sandboxes[clientRecordId].update({
      status: "creating",
      provider: "sprites",
      timeout: undefined, // dropped by JSON, as in the library when unset
      runtime: "node22",
      vcpus: 1.5,
      ports: [3000],
      purpose: "from-client",
      params: { sprites: { name: "ekairos-" + clientRecordId }, n: 2.5 },
      createdAt: now,
      updatedAt: now,
    }),
  );

  return { checks, goRecord, goTypes: typesOf(goRecord), clientRecordId, version };
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out));
  },
  (err) => {
    process.stdout.write(JSON.stringify({ checks, fatal: String((err && err.stack) || err), body: err && err.body }));
  },
);
