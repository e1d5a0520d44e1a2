//! Rebuilds this crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! files of `migrations/` at compile time but (on stable Rust) does not tell cargo to watch
//! the directory, so a new `000N_*.sql` would otherwise be missing from an incremental build.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
