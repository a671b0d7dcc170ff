// Bazaar API reference: fetches /openapi.json (the OpenAPI 3.1 document this frontend
// serves) and renders its routes, parameters, bodies, answers and schemas. Plain DOM, no
// framework, nothing loaded from elsewhere; every text from the document goes in through
// textContent, never as HTML.
"use strict";

(function () {
  const METHODS = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== undefined && c !== null) node.append(c);
    }
    return node;
  }

  // Inline markup of the document's descriptions: `code` and **bold**.
  function inline(text) {
    const out = document.createDocumentFragment();
    for (const part of String(text).split(/(`[^`]*`|\*\*[^*]+\*\*)/)) {
      if (!part) continue;
      if (part.length > 1 && part.startsWith("`") && part.endsWith("`")) {
        out.append(el("code", { text: part.slice(1, -1) }));
      } else if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
        out.append(el("strong", { text: part.slice(2, -2) }));
      } else {
        out.append(document.createTextNode(part));
      }
    }
    return out;
  }

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  }

  // Block markup: paragraphs, "- " lists and "|" tables.
  function markdown(text) {
    const box = el("div", { class: "md" });
    if (!text) return box;
    const lines = String(text).split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        i += 1;
      } else if (line.startsWith("- ")) {
        const list = el("ul");
        while (i < lines.length && lines[i].startsWith("- ")) {
          list.append(el("li", null, inline(lines[i].slice(2))));
          i += 1;
        }
        box.append(list);
      } else if (line.trim().startsWith("|")) {
        const rows = [];
        while (i < lines.length && lines[i].trim().startsWith("|")) {
          rows.push(cells(lines[i]));
          i += 1;
        }
        const table = el("table");
        const head = el("tr");
        for (const c of rows[0]) head.append(el("th", null, inline(c)));
        table.append(el("thead", null, head));
        const body = el("tbody");
        for (const row of rows.slice(1)) {
          if (row.every((c) => /^-+$/.test(c))) continue;
          const tr = el("tr");
          for (const c of row) tr.append(el("td", null, inline(c)));
          body.append(tr);
        }
        table.append(body);
        box.append(el("div", { class: "table-wrap" }, table));
      } else {
        const words = [];
        while (
          i < lines.length &&
          lines[i].trim() &&
          !lines[i].startsWith("- ") &&
          !lines[i].trim().startsWith("|")
        ) {
          words.push(lines[i].trim());
          i += 1;
        }
        box.append(el("p", null, inline(words.join(" "))));
      }
    }
    return box;
  }

  function refName(ref) {
    return String(ref).split("/").pop();
  }

  function schemaLink(name) {
    return el("a", { href: "#schema-" + name, class: "schema-link" }, el("code", { text: name }));
  }

  function joined(parts, separator) {
    const out = document.createDocumentFragment();
    parts.forEach((p, n) => {
      if (n > 0) out.append(document.createTextNode(separator));
      out.append(p);
    });
    return out;
  }

  // A schema's type in a few words, with links to named schemas.
  function typeOf(schema) {
    if (!schema || typeof schema !== "object") return document.createTextNode("any");
    if (schema.$ref) return schemaLink(refName(schema.$ref));
    if (Array.isArray(schema.oneOf)) return joined(schema.oneOf.map(typeOf), " | ");
    if (Array.isArray(schema.anyOf)) return joined(schema.anyOf.map(typeOf), " | ");
    if (Array.isArray(schema.allOf)) return joined(schema.allOf.map(typeOf), " & ");
    if (Array.isArray(schema.enum)) {
      return joined(schema.enum.map((v) => el("code", { text: JSON.stringify(v) })), " | ");
    }
    const types = Array.isArray(schema.type) ? schema.type : [schema.type || "any"];
    return joined(
      types.map((t) => {
        if (t === "array") {
          const f = document.createDocumentFragment();
          f.append("array of ", typeOf(schema.items));
          return f;
        }
        let word = t;
        if (t !== "null" && schema.format) word += " (" + schema.format + ")";
        if (t !== "null" && schema.contentMediaType) word += " (" + schema.contentMediaType + ")";
        return document.createTextNode(word);
      }),
      " | "
    );
  }

  // Limits and hints of a schema, in words.
  function constraints(schema) {
    if (!schema || typeof schema !== "object") return "";
    const said = [];
    if (schema.minimum !== undefined) said.push("min " + schema.minimum);
    if (schema.maximum !== undefined) said.push("max " + schema.maximum);
    if (schema.minLength !== undefined) said.push("length ≥ " + schema.minLength);
    if (schema.maxLength !== undefined) said.push("length ≤ " + schema.maxLength);
    if (schema.minItems !== undefined) said.push("items ≥ " + schema.minItems);
    if (schema.maxItems !== undefined) said.push("items ≤ " + schema.maxItems);
    if (schema.pattern !== undefined) said.push("pattern " + schema.pattern);
    if (schema.default !== undefined) said.push("default " + JSON.stringify(schema.default));
    if (Array.isArray(schema.examples) && schema.examples.length) {
      said.push("e.g. " + schema.examples.map((e) => JSON.stringify(e)).join(", "));
    }
    return said.join("; ");
  }

  function describeCell(description, schema) {
    const td = el("td");
    if (description) td.append(markdown(description));
    const limits = constraints(schema);
    if (limits) td.append(el("div", { class: "muted", text: limits }));
    return td;
  }

  // The description a property carries, on itself or on the reference beside a null.
  function propertyDescription(schema) {
    if (!schema) return "";
    if (schema.description) return schema.description;
    for (const part of schema.oneOf || []) {
      if (part && part.description) return part.description;
    }
    return "";
  }

  function propertiesTable(schema) {
    const required = new Set(schema.required || []);
    const table = el(
      "table",
      null,
      el(
        "thead",
        null,
        el("tr", null, el("th", { text: "Field" }), el("th", { text: "Type" }), el("th", { text: "About" }))
      )
    );
    const body = el("tbody");
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      const nameCell = el("td", null, el("code", { text: name }));
      if (required.has(name)) nameCell.append(" ", el("span", { class: "req", text: "required" }));
      body.append(el("tr", { "data-field": name }, nameCell, el("td", null, typeOf(prop)), describeCell(propertyDescription(prop), prop)));
    }
    table.append(body);
    const wrap = el("div", { class: "table-wrap" }, table);
    if (schema.additionalProperties === false) {
      wrap.append(el("p", { class: "muted", text: "No other fields are accepted." }));
    }
    return wrap;
  }

  // A schema in full: its type, description and fields; each variant of a oneOf.
  function schemaView(schema) {
    const box = el("div", { class: "schema-view" });
    if (!schema || typeof schema !== "object") return box;
    if (schema.$ref) {
      box.append(el("p", null, "Schema: ", schemaLink(refName(schema.$ref))));
      return box;
    }
    if (schema.description) box.append(markdown(schema.description));
    const variants = schema.oneOf || schema.anyOf;
    if (Array.isArray(variants) && variants.some((v) => v && !v.$ref && v.type !== "null")) {
      const list = el("ol", { class: "variants" });
      for (const v of variants) {
        const item = el("li", null, el("p", null, "One of: ", typeOf(v)));
        if (v && !v.$ref) item.append(schemaView(v));
        list.append(item);
      }
      box.append(list);
      return box;
    }
    if (Array.isArray(schema.allOf)) {
      box.append(el("p", null, "All of: ", typeOf(schema)));
      for (const part of schema.allOf) {
        if (part && !part.$ref) box.append(schemaView(part));
      }
      return box;
    }
    if (schema.properties) {
      box.append(propertiesTable(schema));
    } else {
      const line = el("p", null, "Type: ", typeOf(schema));
      const limits = constraints(schema);
      if (limits) line.append(el("span", { class: "muted", text: " (" + limits + ")" }));
      box.append(line);
    }
    return box;
  }

  function contentView(content) {
    const box = el("div", { class: "content" });
    for (const [type, media] of Object.entries(content || {})) {
      box.append(el("p", { class: "muted" }, "Content type: ", el("code", { text: type })));
      box.append(schemaView(media.schema));
      for (const [name, example] of Object.entries(media.examples || {})) {
        const details = el("details", { class: "example", "data-example": name });
        details.append(
          el("summary", null, "Example ", el("code", { text: name }), example.summary ? " — " : "", example.summary ? inline(example.summary) : "")
        );
        details.append(el("pre", { text: JSON.stringify(example.value, null, 2) }));
        box.append(details);
      }
    }
    return box;
  }

  function parametersView(parameters) {
    const table = el(
      "table",
      null,
      el(
        "thead",
        null,
        el("tr", null, el("th", { text: "Name" }), el("th", { text: "In" }), el("th", { text: "Type" }), el("th", { text: "About" }))
      )
    );
    const body = el("tbody");
    for (const p of parameters) {
      const name = el("td", null, el("code", { text: p.name }));
      if (p.required) name.append(" ", el("span", { class: "req", text: "required" }));
      body.append(el("tr", { "data-param": p.name }, name, el("td", { text: p.in }), el("td", null, typeOf(p.schema)), describeCell(p.description, p.schema)));
    }
    table.append(body);
    return el("div", { class: "table-wrap" }, table);
  }

  function headersView(headers) {
    const table = el("table", null, el("thead", null, el("tr", null, el("th", { text: "Header" }), el("th", { text: "About" }))));
    const body = el("tbody");
    for (const [name, h] of Object.entries(headers)) {
      body.append(el("tr", null, el("td", null, el("code", { text: name })), describeCell(h.description, h.schema)));
    }
    table.append(body);
    return el("div", { class: "table-wrap" }, table);
  }

  function serversLine(servers) {
    const line = el("p", { class: "muted" }, "Served on: ");
    servers.forEach((s, n) => {
      let url = s.url;
      for (const [name, v] of Object.entries(s.variables || {})) {
        url = url.replace("{" + name + "}", v.default);
      }
      if (n > 0) line.append(", ");
      line.append(el("code", { text: url }));
      if (s.description) line.append(" (", inline(s.description), ")");
    });
    return line;
  }

  const SCHEME_WORDS = { admin_token: "admin token", peer_token: "peer token" };

  function operationView(path, method, op, item) {
    const section = el("section", {
      class: "op",
      id: "op-" + (op.operationId || method + path),
      "data-method": method.toUpperCase(),
      "data-path": path,
      "data-tag": (op.tags || [])[0] || "",
    });
    const title = el(
      "h3",
      null,
      el("span", { class: "method method-" + method, text: method.toUpperCase() }),
      el("span", { class: "path", text: path })
    );
    for (const requirement of op.security || []) {
      for (const scheme of Object.keys(requirement)) {
        title.append(el("span", { class: "badge lock", text: "🔒 " + (SCHEME_WORDS[scheme] || scheme) }));
      }
    }
    section.append(title);
    if (op.summary) section.append(el("p", { class: "summary" }, inline(op.summary)));
    if (op.description) section.append(markdown(op.description));
    const servers = op.servers || item.servers;
    if (servers) section.append(serversLine(servers));
    const parameters = op.parameters || [];
    if (parameters.length) {
      section.append(el("h4", { text: "Parameters" }), parametersView(parameters));
    }
    if (op.requestBody) {
      section.append(el("h4", { text: "Request body" + (op.requestBody.required ? " (required)" : " (optional)") }));
      if (op.requestBody.description) section.append(markdown(op.requestBody.description));
      section.append(contentView(op.requestBody.content));
    }
    section.append(el("h4", { text: "Responses" }));
    const responses = el("div", { class: "responses" });
    for (const [status, response] of Object.entries(op.responses || {})) {
      const box = el("div", { class: "response s" + String(status)[0], "data-status": status });
      box.append(el("p", null, el("span", { class: "status", text: status }), " "));
      box.append(markdown(response.description));
      if (response.headers && Object.keys(response.headers).length) box.append(headersView(response.headers));
      if (response.content) box.append(contentView(response.content));
      responses.append(box);
    }
    section.append(responses);
    return section;
  }

  function render(doc) {
    const info = doc.info || {};
    document.title = (info.title || "API") + " — API reference";
    $("title").textContent = (info.title || "API") + " — API reference";
    $("version").textContent = "Version " + (info.version || "?") + ", OpenAPI " + (doc.openapi || "?") + ".";
    const intro = $("intro");
    intro.append(markdown(info.description || ""));
    if (Array.isArray(doc.servers) && doc.servers.length) intro.append(serversLine(doc.servers));

    // Operations grouped by tag, in the document's tag order.
    const byTag = new Map();
    for (const tag of doc.tags || []) byTag.set(tag.name, { about: tag.description, ops: [] });
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags || [])[0] || "other";
        if (!byTag.has(tag)) byTag.set(tag, { about: "", ops: [] });
        byTag.get(tag).ops.push({ path, method, op, item });
      }
    }
    const operations = $("operations");
    const toc = $("toc-body");
    let count = 0;
    for (const [tag, group] of byTag) {
      if (!group.ops.length) continue;
      const tagId = "tag-" + tag.replace(/[^A-Za-z0-9_-]/g, "-");
      const block = el("div", { class: "tag-group" });
      block.append(el("h2", { class: "tag-title", id: tagId, text: tag }));
      if (group.about) block.append(el("div", { class: "tag-about" }, markdown(group.about)));
      operations.append(block);
      const list = el("ul");
      for (const { path, method, op, item } of group.ops) {
        const view = operationView(path, method, op, item);
        block.append(view);
        list.append(
          el("li", { "data-for": view.id }, el("a", { href: "#" + view.id }, el("span", { class: "method method-" + method, text: method.toUpperCase() }), " ", el("span", { class: "path", text: path })))
        );
        count += 1;
      }
      toc.append(el("div", { class: "toc-group" }, el("h3", null, el("a", { href: "#" + tagId, text: tag })), list));
    }
    const schemas = $("schemas");
    const schemaList = el("ul");
    for (const [name, schema] of Object.entries((doc.components || {}).schemas || {})) {
      const section = el("section", { class: "schema", id: "schema-" + name, "data-schema": name });
      section.append(el("h3", { text: name }), schemaView(schema));
      schemas.append(section);
      schemaList.append(el("li", null, el("a", { href: "#schema-" + name, text: name })));
    }
    toc.append(el("h3", null, el("a", { href: "#schemas-title", text: "Schemas" })), schemaList);
    $("op-count").textContent = count + " routes";
    document.body.dataset.operations = String(count);

    const filter = $("filter");
    filter.addEventListener("input", () => {
      const words = filter.value.trim().toLowerCase();
      let shown = 0;
      for (const section of operations.querySelectorAll(".op")) {
        const hay = [section.dataset.method, section.dataset.path, section.dataset.tag, section.textContent].join(" ").toLowerCase();
        const match = !words || hay.includes(words);
        section.classList.toggle("hidden", !match);
        const entry = toc.querySelector('li[data-for="' + section.id + '"]');
        if (entry) entry.classList.toggle("hidden", !match);
        if (match) shown += 1;
      }
      // A tag none of whose routes match is hidden too, in the list and in the page.
      for (const block of operations.querySelectorAll(".tag-group")) {
        block.classList.toggle("hidden", !block.querySelector(".op:not(.hidden)"));
      }
      for (const block of toc.querySelectorAll(".toc-group")) {
        block.classList.toggle("hidden", !block.querySelector("li:not(.hidden)"));
      }
      $("op-count").textContent = words ? shown + " of " + count + " routes" : count + " routes";
    });
    // The page was empty when the browser looked for the fragment: look again.
    if (location.hash) {
      const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) target.scrollIntoView();
    }
  }

  async function main() {
    try {
      const answer = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
      if (!answer.ok) throw new Error("GET /openapi.json answered " + answer.status);
      render(await answer.json());
      document.body.dataset.state = "ready";
    } catch (err) {
      const banner = $("banner");
      banner.textContent = "The API document could not be shown: " + err.message;
      banner.hidden = false;
      document.body.dataset.state = "error";
    }
  }

  main();
})();
