// Contract check of spritesfake (and of the Go engine's sprites) against the official @fly/sprites client,
// run by TestOfficialClientContract.
//
// Input (JSON on stdin): {prefix, baseURL, token, goSprite, goFile, goFileContent, jsSprite}
//   prefix:   an npm prefix where @fly/sprites is installed
//   goSprite: a sandbox sprite the Go engine made, with goFile (relative to /home/sprite) holding goFileContent
//   jsSprite: the name of the sprite this script creates (and leaves for the Go side to read, then deletes)
// Output (JSON on stdout): {checks: [{name, ok, detail}], version, fatal?, httpRedone (HTTP execs made again)}
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const pkgDir = path.join(input.prefix, "node_modules", "@fly", "sprites");
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;
const sdk = await import(pathToFileURL(path.join(pkgDir, "dist", "index.js")).href);
const { SpritesClient, APIError, ExecError, FilesystemError } = sdk;

const checks = [];
function check(name, ok, detail) {
  checks.push({ name, ok: !!ok, detail: detail === undefined ? "" : JSON.stringify(detail) });
}

async function expectReject(name, fn, test) {
  try {
    const res = await fn();
    check(name, false, { unexpectedSuccess: res });
  } catch (e) {
    const detail = { type: e && e.constructor && e.constructor.name, message: String(e && e.message), statusCode: e.statusCode, code: e.code, exitCode: e.exitCode };
    check(name, test(e), detail);
  }
}

// httpExec runs an exec over HTTP, again (5 attempts at most) when the client read two frames as one. The frames
// have no length field: the fake sends each in a chunk of its own, flushed, but the client's body stream (undici)
// hands over whatever it has buffered in one read when it falls behind, as on a loaded machine; the client then
// finds no exit frame, or one of the wrong length, and says so. That is the protocol's limit, which the real
// service shares, not the fake's: every check still needs one attempt with the exact result, and a fake that
// merged frames would fail them all.
let httpRedone = 0;
async function httpExec(fn) {
  let last;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ExecError || !/exit frame|chunk boundaries/.test(String(e && e.message))) throw e;
      last = e;
      httpRedone++;
    }
  }
  throw last;
}

async function drain(stream) {
  const msgs = [];
  for await (const m of stream) msgs.push(m);
  return msgs;
}

async function main() {
  const client = new SpritesClient(input.token, { baseURL: input.baseURL });

  // The Go engine's sprite, as the official client sees it.
  const go = await client.getSprite(input.goSprite);
  check("get the Go engine's sprite", go.name === input.goSprite && go.labels.includes("tfsandbox") && go.urlSettings.auth === "sprite",
    { name: go.name, labels: go.labels, urlSettings: go.urlSettings, status: go.status });
  const goRead = await go.execFile("cat", [input.goFile], { cwd: "/home/sprite" });
  check("exec reads the file the Go engine wrote", goRead.stdout === input.goFileContent && goRead.exitCode === 0, goRead);
  const goFS = await go.filesystem("/home/sprite").readFile(input.goFile, "utf8");
  check("fs reads the file the Go engine wrote", goFS === input.goFileContent, goFS);

  // Create, with the options @ekairos/sandbox and this provider send.
  const sprite = await client.createSprite(input.jsSprite, { urlSettings: { auth: "public" }, labels: ["contract"], waitForCapacity: true });
  check("create", sprite.name === input.jsSprite && sprite.status === "cold" && sprite.urlSettings.auth === "public" && sprite.labels[0] === "contract" && /^https:\/\//.test(sprite.url),
    { name: sprite.name, status: sprite.status, urlSettings: sprite.urlSettings, labels: sprite.labels, url: sprite.url });
  await expectReject("create of a taken name", () => client.createSprite(input.jsSprite), (e) => e instanceof APIError && e.statusCode === 409);
  await expectReject("create of an invalid name", () => client.createSprite("Not_Valid"), (e) => e instanceof APIError && e.statusCode === 400);

  const got = await client.getSprite(input.jsSprite);
  check("get", got.id === sprite.id && got.name === input.jsSprite, { id: got.id });
  const all = await client.listAllSprites();
  check("list", all.some((s) => s.name === input.jsSprite) && all.some((s) => s.name === input.goSprite), all.map((s) => s.name));
  const updated = await client.updateSprite(input.jsSprite, { labels: ["contract", "updated"], urlSettings: { auth: "sprite" } });
  check("update labels and url auth", updated.labels.length === 2 && updated.urlSettings.auth === "sprite", { labels: updated.labels, urlSettings: updated.urlSettings });

  // Exec over the WebSocket: argv, separate streams, the real exit code.
  const ok = await sprite.execFile("printf", ["%s|%s", "a b", "$HOME"]);
  check("exec argv is not a shell line", ok.stdout === "a b|$HOME" && ok.exitCode === 0, ok);
  await expectReject("exec exit code and separate streams", () => sprite.execFile("sh", ["-c", "echo out; echo err >&2; exit 3"]),
    (e) => e instanceof ExecError && e.exitCode === 3 && e.stdout === "out\n" && e.stderr === "err\n");
  const env = await sprite.execFile("sh", ["-c", 'printf "%s" "$CONTRACT_VAR"'], { env: { CONTRACT_VAR: "from-js", PATH: "/usr/bin:/bin" } });
  check("exec env", env.stdout === "from-js", env);
  await sprite.filesystem("/home/sprite").writeFile("notes/hello.txt", "hi from js");
  const cwd = await sprite.execFile("cat", ["hello.txt"], { cwd: "/home/sprite/notes" });
  check("exec cwd and fs write", cwd.stdout === "hi from js", cwd);

  // Exec over HTTP. Its frames carry no length: the client splits them at the chunks it reads, so only short
  // exchanges are reliable (the SDK's own warning); the fake pauses between frames to keep them apart, and an
  // attempt whose frames the client read together is made again (httpExec).
  await expectReject("HTTP exec exit code", () => httpExec(() => sprite.execFileHTTP("sh", ["-c", "echo http-out; exit 4"])),
    (e) => e instanceof ExecError && e.exitCode === 4 && e.stdout === "http-out\n");
  const httpIn = await httpExec(() => sprite.execFileHTTP("cat", [], { input: "piped" }));
  check("HTTP exec stdin", httpIn.stdout === "piped" && httpIn.exitCode === 0, httpIn);

  // Filesystem errors.
  await expectReject("fs read of a missing file", () => sprite.filesystem("/home/sprite").readFile("no/such.txt"),
    (e) => e instanceof FilesystemError && e.code === "ENOENT");

  // Checkpoints: NDJSON progress, list with Current, restore.
  const cpMsgs = await drain(await sprite.createCheckpoint("contract"));
  const complete = cpMsgs.find((m) => m.type === "complete");
  const cpID = complete && /Checkpoint (\S+) created/.exec(complete.data)?.[1];
  check("checkpoint stream", !!cpID && cpMsgs.some((m) => m.type === "info" && /ID:/.test(m.data)), cpMsgs);
  const cps = await sprite.listCheckpoints();
  check("checkpoint list", cps.some((c) => c.id === cpID && c.comment === "contract") && cps.some((c) => c.id === "Current"), cps);
  const one = await sprite.getCheckpoint(cpID);
  check("checkpoint get", one.id === cpID && one.createTime instanceof Date && !isNaN(one.createTime), one);
  await sprite.filesystem("/home/sprite").writeFile("notes/hello.txt", "changed");
  const rsMsgs = await drain(await sprite.restoreCheckpoint(cpID));
  check("restore stream", rsMsgs.some((m) => m.type === "complete"), rsMsgs);
  const back = await sprite.filesystem("/home/sprite").readFile("notes/hello.txt", "utf8");
  check("restore brings files back", back === "hi from js", back);
  await expectReject("restore of an unknown checkpoint", () => sprite.restoreCheckpoint("v999"), (e) => /404/.test(String(e.message)));

  // Network policy.
  const rules = { rules: [{ domain: "example.com", action: "allow" }, { domain: "*", action: "deny" }] };
  await sprite.updateNetworkPolicy(rules);
  const pol = await sprite.getNetworkPolicy();
  const norm = (p) => JSON.stringify(p.rules.map((r) => [r.domain, r.action, r.include]));
  check("network policy round trip", norm(pol) === norm(rules), pol);
  await expectReject("invalid network policy", () => sprite.updateNetworkPolicy({ rules: [{ domain: "x.com" }] }), (e) => /Invalid policy/.test(String(e.message)));

  // Errors.
  await expectReject("get of a missing sprite", () => client.getSprite("no-such-sprite-contract"),
    (e) => e instanceof APIError && e.statusCode === 404 && /sprite not found/.test(e.message + e.errorCode));
  const bad = new SpritesClient("not-the-token", { baseURL: input.baseURL });
  await expectReject("bad token", () => bad.listSprites(), (e) => e instanceof APIError && e.statusCode === 401);

  // Delete a second sprite (the first is left for the Go side).
  const tmpName = input.jsSprite + "-tmp";
  await client.createSprite(tmpName);
  await client.deleteSprite(tmpName);
  await expectReject("get after delete", () => client.getSprite(tmpName), (e) => e instanceof APIError && e.statusCode === 404);
  await expectReject("delete of a deleted sprite", () => client.deleteSprite(tmpName), (e) => e instanceof APIError && e.statusCode === 404);
}

let fatal = "";
try {
  await main();
} catch (e) {
  fatal = String((e && e.stack) || e);
}
process.stdout.write(JSON.stringify({ checks, version, fatal, httpRedone }));
