#!/usr/bin/env node
// Validates Adaptive Cards with the official Adaptive Cards library (npm
// `adaptivecards`, Microsoft's reference renderer), since the official JSON
// schema is not shipped in any package available here.
//
// For each file (a card, or a Workflows message holding cards) it checks:
//   1. parse: the library's deserializer, targeting schema 1.5, reports no
//      event (unknown element or action types, invalid enum values,
//      properties newer than 1.5, wrong card type...);
//   2. validateProperties: the library's own semantic validation (required
//      properties, empty collections, duplicate ids, too many actions...);
//   3. round trip: every property of the input survives parse + toJSON, so
//      nothing is an unknown (misspelled, or made-up) property, which the
//      library would otherwise drop silently. Teams' `msteams` extension
//      and `$schema` are the only properties allowed to be unknown, at the
//      card root;
//   4. Teams Workflows rules: version "1.5", the $schema URL, no
//      Action.Submit / Action.Execute anywhere, msteams.entities well formed.
//
// Usage: node validate.js file.json... ; prints a JSON report on stdout and
// exits 1 when any card has a problem.
"use strict";
const fs = require("fs");
const path = require("path");

const AC = require(path.join(__dirname, "..", "node_modules", "adaptivecards", "dist", "adaptivecards.js"));

const ROOT_EXTENSIONS = new Set(["$schema", "msteams"]);

function cardsOf(doc) {
  if (doc && doc.type === "message" && Array.isArray(doc.attachments)) {
    return doc.attachments.map((a, i) => {
      if (a.contentType !== "application/vnd.microsoft.card.adaptive") {
        throw new Error(`attachment ${i}: contentType ${a.contentType}`);
      }
      return a.content;
    });
  }
  return [doc];
}

// Compare input and round-tripped JSON: report input properties missing
// from the output, and values that changed.
function diff(input, output, where, problems, isRoot) {
  if (Array.isArray(input)) {
    if (!Array.isArray(output)) {
      problems.push(`${where}: array was dropped or changed`);
      return;
    }
    if (input.length !== output.length) {
      problems.push(`${where}: ${input.length} items in, ${output.length} out (unknown items dropped)`);
    }
    input.forEach((v, i) => diff(v, output[i], `${where}[${i}]`, problems, false));
    return;
  }
  if (input && typeof input === "object") {
    if (!output || typeof output !== "object") {
      problems.push(`${where}: object was dropped`);
      return;
    }
    for (const k of Object.keys(input)) {
      if (isRoot && ROOT_EXTENSIONS.has(k)) continue;
      if (!(k in output)) {
        // The library omits properties set to their default value.
        if (isDefault(k, input[k])) continue;
        problems.push(`${where}.${k}: unknown property (dropped by the Adaptive Cards library)`);
        continue;
      }
      diff(input[k], output[k], `${where}.${k}`, problems, false);
    }
    return;
  }
  if (typeof input === "string" && typeof output === "string") {
    if (input.toLowerCase() !== output.toLowerCase()) problems.push(`${where}: "${input}" became "${output}"`);
    return;
  }
  if (input !== output) problems.push(`${where}: ${JSON.stringify(input)} became ${JSON.stringify(output)}`);
}

function isDefault(key, value) {
  const defaults = { wrap: false, separator: false, isSubtle: false, italic: false, bleed: false, style: "default", spacing: "default", weight: "default", size: "default", color: "default", fontType: "default" };
  return key in defaults && String(defaults[key]).toLowerCase() === String(value).toLowerCase();
}

function walk(node, fn, where) {
  if (Array.isArray(node)) return node.forEach((v, i) => walk(v, fn, `${where}[${i}]`));
  if (node && typeof node === "object") {
    fn(node, where);
    for (const k of Object.keys(node)) walk(node[k], fn, `${where}.${k}`);
  }
}

function validateCard(card) {
  const problems = [];
  if (!card || card.type !== "AdaptiveCard") problems.push(`type is ${card && card.type}, want AdaptiveCard`);
  if (card.version !== "1.5") problems.push(`version is ${card.version}, want 1.5`);
  if (card.$schema !== "http://adaptivecards.io/schemas/adaptive-card.json") problems.push(`$schema is ${card.$schema}`);

  const ctx = new AC.SerializationContext(AC.Versions.v1_5);
  const parsed = new AC.AdaptiveCard();
  parsed.parse(card, ctx);
  for (let i = 0; i < ctx.eventCount; i++) {
    const e = ctx.getEventAt(i);
    problems.push(`parse: ${AC.ValidationEvent[e.event]}: ${e.message}`);
  }
  const results = parsed.validateProperties();
  for (const e of results.validationEvents) {
    problems.push(`validate: ${AC.ValidationEvent[e.event]}: ${e.message}`);
  }
  const out = parsed.toJSON(new AC.SerializationContext(AC.Versions.v1_5));
  diff(card, out, "card", problems, true);

  let elements = 0;
  walk(card, (n, where) => {
    if (n.type === "Action.Submit" || n.type === "Action.Execute") problems.push(`${where}: ${n.type} does not work in Teams Workflows`);
    if (typeof n.type === "string" && !n.type.startsWith("Action.")) elements++;
  }, "card");

  const entities = (card.msteams && card.msteams.entities) || [];
  entities.forEach((m, i) => {
    if (m.type !== "mention") problems.push(`msteams.entities[${i}].type is ${m.type}`);
    if (!/^<at>[^<>]+<\/at>$/.test(m.text || "")) problems.push(`msteams.entities[${i}].text is ${m.text}`);
    if (!m.mentioned || !m.mentioned.id || !m.mentioned.name) problems.push(`msteams.entities[${i}].mentioned is incomplete`);
  });
  return { problems, elements, version: parsed.version ? parsed.version.toString() : "" };
}

const report = [];
let failed = false;
for (const file of process.argv.slice(2)) {
  let cards;
  try {
    cards = cardsOf(JSON.parse(fs.readFileSync(file, "utf8")));
  } catch (err) {
    report.push({ file, problems: [`cannot read: ${err.message}`] });
    failed = true;
    continue;
  }
  cards.forEach((card, i) => {
    const r = validateCard(card);
    if (r.problems.length) failed = true;
    report.push({ file, card: i, ...r });
  });
}
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
process.exit(failed ? 1 : 0);
