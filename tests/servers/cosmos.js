#!/usr/bin/env node
// Local Cosmos DB (NoSQL API) server for the integration tests: `node cosmos.js <port>`.
//
// Why a launcher instead of the package's CLI:
// * The CLI answers every request with `Connection: close`, so each SDK call pays a new TLS
//   handshake (~45 ms); `createHttpsServer({ keepAlive: true })` keeps connections (~3 ms).
// * A read of a missing document crashes inside the package's read handler (it indexes the
//   undefined document) and answers 500; real Cosmos answers 404, which the adapter maps to None.
// * Transactional batches (partition keys, all or nothing): see the batch handler's patch.
// * The tests need the actual port (0 = pick a free one) and a server that never outlives them.
//
// Protocol with the test harness (tests/support/local_servers.py): prints exactly one line
// `LISTENING <port>` on stdout once it accepts connections; exits when stdin closes (the parent
// died or is done) and on SIGTERM/SIGINT. TLS uses the self-signed certificate that the package
// ships (cert.pem/key.pem), so clients must disable verification for this loopback server.
"use strict";

const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const getPartitionFromHeader = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

// Patch the read handler before `routes` captures it (routes are built when the package's index
// module loads, from `exports.default` of each handler module).
const readDocumentUnpatched = readDocument.default;
readDocument.default = (account, req, res, params) => {
  try {
    return readDocumentUnpatched(account, req, res, params);
  } catch (err) {
    const { dbId, collId, docId } = params;
    const partition = getPartitionFromHeader.parsePartitionKey(
      getPartitionFromHeader.default(req),
      docId
    );
    if (account.database(dbId).collection(collId).document(docId, partition).read()) {
      throw err; // a genuine failure on an existing document stays a 500
    }
    res.statusCode = 404;
    return {
      code: "NotFound",
      message: "Entity with the specified id does not exist in the system."
    };
  }
};

// Patch the batch handler too, for two differences from real Cosmos:
// * Real Cosmos applies a transactional batch to the partition named in the request's header,
//   and the SDK sends no partition key per operation; the package's replace, read and delete
//   operations parse one from each operation and fail without it. It is filled in here.
// * Real Cosmos applies a batch all or nothing: if one operation fails, none is applied, the
//   answer is 207 Multi-Status, and the other operations report 424 Failed Dependency. The
//   package applies the operations before the failing one. Here every operation is checked
//   against the stored documents first, and a batch that would fail is answered without
//   applying any. (A batch touching one document twice is refused: checking it would need the
//   earlier operations applied.)
// The package's handler reads the body through `json.default`, so it gets the parsed one.
const batchDocuments = require("@vercel/cosmosdb-server/lib/handler/batch-documents");
const json = require("@vercel/cosmosdb-server/lib/json");

const parsedBodies = new WeakMap();
const readJson = json.default;
json.default = (req) =>
  parsedBodies.has(req) ? Promise.resolve(parsedBodies.get(req)) : readJson(req);

// The status a batch operation would fail with against the stored documents, or 0.
function precondition(collection, operation) {
  const id = operation.operationType === "Create" || operation.operationType === "Upsert"
    ? operation.resourceBody && operation.resourceBody.id
    : operation.id;
  if (!id) return 400;
  const partition = getPartitionFromHeader.parsePartitionKey(operation.partitionKey, id);
  const stored = collection.document(id, partition).read();
  switch (operation.operationType) {
    case "Create":
      return stored ? 409 : 0;
    case "Upsert":
      return stored && operation.ifMatch && operation.ifMatch !== stored._etag ? 412 : 0;
    case "Replace":
    case "Delete":
      if (!stored) return 404;
      return operation.ifMatch && operation.ifMatch !== stored._etag ? 412 : 0;
    case "Read":
      return stored ? 0 : 404;
    default:
      return 400;
  }
}

function operationId(operation) {
  return operation.id ?? (operation.resourceBody && operation.resourceBody.id);
}

const batchDocumentsUnpatched = batchDocuments.default;
batchDocuments.default = async (account, req, res, params) => {
  const operations = await readJson(req);
  const collection = account.database(params.dbId).collection(params.collId);
  if (Array.isArray(operations) && collection.read()) {
    const partitionKey = getPartitionFromHeader.default(req);
    for (const operation of operations) {
      if (operation && typeof operation === "object" && operation.partitionKey === undefined) {
        operation.partitionKey = partitionKey;
      }
    }
    const ids = operations.map((operation) => operation && operationId(operation));
    if (new Set(ids).size !== ids.length) {
      res.statusCode = 400;
      return { message: "cosmos.js: a batch touching one document twice is not supported" };
    }
    const failing = operations.findIndex(
      (operation) => !operation || precondition(collection, operation) !== 0
    );
    if (failing >= 0) {
      res.statusCode = 207;
      return operations.map((operation, index) => ({
        statusCode: index === failing ? (operation ? precondition(collection, operation) : 400) : 424,
        requestCharge: 0
      }));
    }
  }
  parsedBodies.set(req, operations);
  return batchDocumentsUnpatched(account, req, res, params);
};

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = Number.parseInt(process.argv[2] ?? "0", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: node cosmos.js <port>  (0 = any free port), got ${process.argv[2]}\n`);
  process.exit(2);
}

const server = createHttpsServer({ keepAlive: true });
// Idle keep-alive connections outlive pauses between test modules; a server-side close racing a
// client's reuse of the socket would surface as a spurious connection error.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;

let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(code));
  server.closeAllConnections();
  setTimeout(() => process.exit(code), 2_000).unref();
}

server.on("error", (err) => {
  process.stderr.write(`cosmos.js: ${err.stack || err}\n`);
  process.exit(1);
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
process.stdin.on("end", () => stop(0));
process.stdin.on("close", () => stop(0));
process.stdin.on("error", () => stop(0));
process.stdin.resume();
