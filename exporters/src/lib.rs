//! The twin in standard formats, for the tools outside it: [`gltf`] writes the scene as it
//! stands on a day as glTF 2.0 binary (GLB) with per-element metadata; [`ifc`] writes the model
//! with each element's renewal status and the plan as an IFC4 work schedule; [`tiles`] writes
//! the scene as a georeferenced 3D Tiles 1.1 tileset of GLB tiles, each under a size bound. Writers take the loaded
//! scene by reference and stream into any `std::io::Write`; they know no HTTP and no GPU (the
//! server and the command line call them).

pub mod gltf;
pub mod ifc;
pub mod tiles;
