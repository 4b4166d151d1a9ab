//! Writes the anchors' low-rank ANN data set as .fvecs files, for comparing other
//! libraries on exactly the data simctl's kernels are measured on
//! (`benches/faiss_compare.py`).
//!
//! ```text
//! cargo run --release --example anchor_data -- DIR
//! ```
//!
//! `DIR/base.fvecs`: 200k x 128 rows of `LowRank::new(128, 1).sample(200_000, 2)`;
//! `DIR/query.fvecs`: 2,000 queries, `sample(2_000, 3)`: the rows and queries of the
//! HNSW kernel's anchor measurement (`measure_against_the_anchors` in
//! `src/kernels/hnsw.rs`). fvecs: per vector a little-endian i32 dim, then dim f32.

use std::io::Write;
use std::path::{Path, PathBuf};

use simctl::kernels::data::LowRank;

const DIM: usize = 128;
const ROWS: usize = 200_000;
const QUERIES: usize = 2_000;

fn write_fvecs(path: &Path, data: &[f32]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for row in data.chunks_exact(DIM) {
        out.write_all(&(DIM as i32).to_le_bytes())?;
        for x in row {
            out.write_all(&x.to_le_bytes())?;
        }
    }
    out.flush()
}

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let source = LowRank::new(DIM, 1);
    write_fvecs(&dir.join("base.fvecs"), &source.sample(ROWS, 2))?;
    write_fvecs(&dir.join("query.fvecs"), &source.sample(QUERIES, 3))?;
    println!(
        "wrote {} and {}",
        dir.join("base.fvecs").display(),
        dir.join("query.fvecs").display()
    );
    Ok(())
}
