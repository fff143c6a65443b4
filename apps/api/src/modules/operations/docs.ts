import { ALL_ROUTES, buildOpenApi } from '@app/api-contract';

/** A small self-contained page over /docs-json (no CDN: the machines may be offline). */
export function docsHtml(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Credit Ledger API</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}.op{border:1px solid #e3e3e3;border-radius:6px;margin:.6em 0;padding:.5em .8em}
.m{display:inline-block;min-width:4.5em;font-weight:700}.GET{color:#0a7}.POST{color:#06c}.PATCH{color:#a60}.DELETE{color:#c22}
code,pre{background:#f6f6f6;border-radius:4px}pre{padding:.6em;overflow:auto;font-size:12px}.role{float:right;color:#777}</style></head>
<body><h1>Credit Ledger API</h1><p>OpenAPI document: <a href="/docs-json">/docs-json</a>. Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>. Money is a string with 3 decimals.</p>
<div id="ops">Loading…</div>
<script>
fetch('/docs-json').then(r=>r.json()).then(doc=>{const byTag={};
for(const [path,ops] of Object.entries(doc.paths))for(const [m,op] of Object.entries(ops))(byTag[op.tags[0]]??=[]).push({path,m:m.toUpperCase(),op});
const esc=s=>String(s).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
document.getElementById('ops').innerHTML=Object.entries(byTag).map(([tag,ops])=>'<h2>'+esc(tag)+'</h2>'+ops.map(({path,m,op})=>
'<details class="op"><summary><span class="m '+m+'">'+m+'</span> <code>'+esc(path)+'</code> — '+esc(op.summary)+'<span class="role">'+esc(op['x-required-role'])+'</span></summary>'+
(op.parameters.length?'<h4>Parameters</h4><pre>'+esc(JSON.stringify(op.parameters,null,2))+'</pre>':'')+
(op.requestBody?'<h4>Body</h4><pre>'+esc(JSON.stringify(op.requestBody.content['application/json'].schema,null,2))+'</pre>':'')+
'<h4>Responses</h4><pre>'+esc(Object.entries(op.responses).map(([s,r])=>s+'  '+r.description).join('\\n'))+'</pre></details>').join('')).join('');});
</script></body></html>`;
}

export function openApiDocument(version: string) {
  return buildOpenApi(ALL_ROUTES, { version });
}
