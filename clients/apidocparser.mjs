// @api-platform/api-doc-parser reads the API documentation and prints the Image resource.
// Usage: node apidocparser.mjs BASE KEY SECRET
import { parseHydraDocumentation } from '@api-platform/api-doc-parser'

const [base, key, secret] = process.argv.slice(2)
const headers = { Authorization: 'Basic ' + Buffer.from(`${key}:${secret}`).toString('base64') }
const { api, status } = await parseHydraDocumentation(`${base}/`, { headers: () => headers })

const describe = (resource) => ({
  name: resource.name,
  url: resource.url,
  id: resource.id,
  fields: resource.fields.map((f) => f.name).sort(),
  readable: resource.readableFields.map((f) => f.name).sort(),
  writable: resource.writableFields.map((f) => f.name).sort(),
  references: resource.fields.filter((f) => f.reference).map((f) => [f.name, f.reference.name]),
  operations: (resource.operations || []).map((op) => `${op.method} ${op.type}`).sort(),
})

console.log(JSON.stringify({
  status,
  title: api.title,
  resources: api.resources.map(describe),
}, null, 2))
