// Runs the Khronos glTF Validator (npm gltf-validator) on one GLB and prints its report as JSON.
// Usage: node gltf-validate.js NODE_MODULES_DIR FILE.glb
const path = require('path');
const fs = require('fs');
const validator = require(path.join(process.argv[2], 'gltf-validator'));
const data = new Uint8Array(fs.readFileSync(process.argv[3]));
validator
  .validateBytes(data, { maxIssues: 0, format: 'glb' })
  .then((report) => {
    process.stdout.write(JSON.stringify(report.issues));
  })
  .catch((error) => {
    process.stderr.write(String(error));
    process.exit(2);
  });
