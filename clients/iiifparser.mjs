// Reads IIIF Presentation manifests as viewers do, with the IIIF community's own parser
// (@iiif/parser): upgraded (as Presentation 2 would be, a no-op on 3), strictly checked
// against Presentation 3 (every fix it would make is a warning), and normalised.
// Usage: node iiifparser.mjs FILE...  Prints, for each file, what the parser read of it as JSON;
// exits 1 if any file fails or draws a warning.
import { readFileSync } from "node:fs";
import { normalize } from "@iiif/parser";
import { upgrade } from "@iiif/parser/upgrader";
import { presentation3StrictUpgrade } from "@iiif/parser/strict";

let failed = false;
const results = [];
for (const file of process.argv.slice(2)) {
  try {
    const doc = JSON.parse(readFileSync(file, "utf8"));
    const upgraded = upgrade(doc);
    const state = { warnings: [] };
    presentation3StrictUpgrade(upgraded, state);
    const { entities, resource } = normalize(upgraded);
    const manifest = entities.Manifest[resource.id];
    const canvases = manifest.items.map((ref) => entities.Canvas[ref.id]);
    const services = [];
    const bodies = new Map();
    for (const canvas of canvases) {
      bodies.set(canvas.id, []);
      for (const pageRef of canvas.items) {
        for (const annoRef of entities.AnnotationPage[pageRef.id].items) {
          for (const bodyRef of entities.Annotation[annoRef.id].body) {
            const body = entities.ContentResource[bodyRef.id];
            bodies.get(canvas.id).push({ type: body.type, format: body.format,
              duration: body.duration });
            for (const service of body.service || []) services.push(service.id || service["@id"]);
          }
        }
      }
    }
    if (state.warnings.length) failed = true;
    results.push({
      file,
      id: manifest.id,
      label: manifest.label,
      warnings: state.warnings,
      canvases: canvases.map((c) => ({ id: c.id, width: c.width, height: c.height,
        duration: c.duration, thumbnails: (c.thumbnail || []).length,
        metadata: c.metadata.length, renderings: (c.rendering || []).length,
        bodies: bodies.get(c.id) })),
      services,
    });
  } catch (error) {
    failed = true;
    results.push({ file, error: String(error && error.stack ? error.stack : error) });
  }
}
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
