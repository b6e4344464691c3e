# Cross-check script for importers/tests/data/IFCOPENSHELL-COMPARISON.md; run with the
# IfcOpenShell of ../shared/bench-peers (./setup.sh): .peers/py/bin/python ifcopenshell_pins.py FILE.ifc
"""Per-file IfcOpenShell cross-check: products with shapes, triangles, bbox (metres, world)."""
import json, sys, multiprocessing
import ifcopenshell, ifcopenshell.geom

def main(path):
    f = ifcopenshell.open(path)
    s = ifcopenshell.geom.settings()
    s.set("use-world-coords", True)
    it = ifcopenshell.geom.iterator(s, f, multiprocessing.cpu_count(), exclude=["IfcOpeningElement", "IfcSpace"])
    products = {}
    lo = [float("inf")] * 3
    hi = [float("-inf")] * 3
    tris = 0
    if it.initialize():
        while True:
            sh = it.get()
            g = sh.geometry
            n = len(g.faces) // 3
            v = g.verts
            if n > 0:
                for i in range(0, len(v), 3):
                    for k in range(3):
                        x = v[i + k]
                        if x < lo[k]: lo[k] = x
                        if x > hi[k]: hi[k] = x
            tris += n
            e = f.by_id(sh.id)
            products[sh.id] = {"class": e.is_a(), "guid": sh.guid, "tris": n}
            if not it.next():
                break
    with_tris = sum(1 for p in products.values() if p["tris"] > 0)
    print(json.dumps({"file": path, "schema": f.schema, "shapes": len(products), "with_triangles": with_tris,
                      "triangles": tris, "bbox": lo + hi, "products": products}))

if __name__ == "__main__":
    main(sys.argv[1])
