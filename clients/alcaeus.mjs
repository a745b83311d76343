// Alcaeus 3 walks the API as a Hydra client would, and prints what it found as JSON.
// Usage: node alcaeus.mjs BASE KEY SECRET CUSTOMER
import create from 'alcaeus'
import Environment from '@zazuko/env/Environment.js'
import rdf from '@zazuko/env'
import formats from '@rdfjs/formats'

const [base, key, secret, customer] = process.argv.slice(2)
const env = new Environment(create(), { parent: rdf })
env.formats.import(formats)
env.hydra.defaultHeaders = {
  Authorization: 'Basic ' + Buffer.from(`${key}:${secret}`).toString('base64'),
}

const ids = (terms) => terms.map((term) => term.value).sort()

async function load (url) {
  const { response, representation } = await env.hydra.loadResource(url)
  if (!representation || !representation.root) {
    throw new Error(`Alcaeus found no resource at ${url} (status ${response && response.xhr.status})`)
  }
  return representation.root
}

const out = {}
const entry = await load(`${base}/`)
out.entryPoint = { id: entry.id.value, types: ids([...entry.types].map((t) => t.id)) }
out.entryPointLinks = entry.getLinks().map((link) => link.supportedProperty.property.id.value).sort()

const image = await load(`${base}/customers/${customer}/spaces/1/images/pic`)
out.image = { id: image.id.value, types: ids([...image.types].map((t) => t.id)) }
out.imageOperations = image.operations.map((op) => op.method).sort()
out.imageLinks = image.getLinks().map((link) => ({
  property: link.supportedProperty.property.id.value,
  resources: link.resources.map((r) => r.id.value),
}))

const roleId = out.imageLinks.find((l) => l.property.endsWith('Image/roles')).resources[0]
const role = await load(roleId)
out.role = { id: role.id.value, types: ids([...role.types].map((t) => t.id)) }

const policyId = `${base}/thumbnailpolicies/default`
const policy = await load(policyId)
out.policy = { id: policy.id.value, operations: policy.operations.map((op) => op.method) }

const images = await load(`${base}/customers/${customer}/spaces/1/images`)
out.collection = {
  id: images.id.value,
  totalItems: images.totalItems,
  members: images.member.map((m) => m.id.value),
  view: images.view && images.view.length ? images.view[0].id.value : null,
}

// A page asked for by its size alone (no page number): Alcaeus takes the collection as the
// page's root only when the view's @id is the URL it fetched.
const paged = await load(`${base}/customers/${customer}/spaces/1/images?pageSize=2`)
out.page = {
  id: paged.id.value,
  types: ids([...paged.types].map((t) => t.id)),
  members: paged.member ? paged.member.map((m) => m.id.value) : [],
  view: paged.view && paged.view.length ? paged.view[0].id.value : null,
  next: paged.view && paged.view.length && paged.view[0].next ? paged.view[0].next.id.value : null,
}

const docs = env.hydra.apiDocumentations[0].root
const imageClass = docs.supportedClass.find((c) => c.id.value.endsWith('vocab#Image'))
out.documentation = {
  imageProperties: imageClass.supportedProperty.map((p) => p.property.id.value.split('/').pop()).sort(),
  imageOperations: imageClass.supportedOperation.map((op) => op.method).sort(),
}

console.log(JSON.stringify(out, null, 2))
