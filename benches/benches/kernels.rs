//! Criterion micro-benchmarks of the distance kernels at every instruction-set level this CPU
//! supports (scalar, AVX2, AVX-512), at the sizes the funnel uses.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use nestdb::kernels::{levels, table, Kernels};
use std::hint::black_box;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed)) % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn tables() -> Vec<&'static Kernels> {
    levels().into_iter().filter_map(table).collect()
}

fn float_kernels(c: &mut Criterion) {
    let mut g = c.benchmark_group("f32");
    for dim in [32usize, 128, 384] {
        let (a, b) = (data(dim, 1), data(dim, 2));
        let mut le = vec![0u8; 1];
        for v in &b {
            le.extend_from_slice(&v.to_le_bytes());
        }
        g.throughput(Throughput::Elements(dim as u64));
        for k in tables() {
            g.bench_with_input(
                BenchmarkId::new(format!("dot/{}", k.name), dim),
                &dim,
                |bn, _| bn.iter(|| (k.dot_f32)(black_box(&a), black_box(&b))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("dot_le_unaligned/{}", k.name), dim),
                &dim,
                |bn, _| bn.iter(|| (k.dot_f32_le)(black_box(&a), black_box(&le[1..]))),
            );
        }
    }
    g.finish();
    let mut g = c.benchmark_group("f16");
    let a: Vec<f16> = data(384, 1).into_iter().map(f16::from_f32).collect();
    let b: Vec<f16> = data(384, 2).into_iter().map(f16::from_f32).collect();
    for k in tables() {
        g.bench_function(format!("dot/{}/384", k.name), |bn| {
            bn.iter(|| (k.dot_f16)(black_box(&a), black_box(&b)))
        });
    }
    g.finish();
}

fn int_kernels(c: &mut Criterion) {
    let q: Vec<i8> = (0..128).map(|i| (i * 7 % 255 - 127) as i8).collect();
    let x: Vec<i8> = (0..128).map(|i| (i * 13 % 255 - 127) as i8).collect();
    let rows: Vec<i8> = (0..128 * 1000)
        .map(|i| (i * 31 % 255 - 127) as i8)
        .collect();
    let mut out = vec![0i32; 1000];
    let mut g = c.benchmark_group("i8");
    for k in tables() {
        g.bench_function(format!("dot/{}/128", k.name), |bn| {
            bn.iter(|| (k.dot_i8)(black_box(&q), black_box(&x)))
        });
    }
    g.throughput(Throughput::Elements(1000));
    for k in tables() {
        g.bench_function(format!("rows-1000x128/{}", k.name), |bn| {
            bn.iter(|| (k.dot_i8_rows)(black_box(&q), black_box(&rows), &mut out))
        });
    }
    g.finish();
    let m = data(384 * 384, 3);
    let v = data(384, 4);
    let mut o = vec![0f32; 384];
    let mut g = c.benchmark_group("matvec");
    for k in tables() {
        g.bench_function(format!("384x384/{}", k.name), |bn| {
            bn.iter(|| (k.matvec)(black_box(&m), 384, 384, black_box(&v), &mut o))
        });
    }
    g.finish();
}

criterion_group!(benches, float_kernels, int_kernels);
criterion_main!(benches);
