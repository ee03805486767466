//! Criterion micro-benchmarks of every distance kernel, SIMD against the scalar reference,
//! at the sizes the funnel uses (32-dim bands up to the full 384 dims).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use nestdb::kernels::{avx2, scalar, simd};
use std::hint::black_box;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed)) % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn float_kernels(c: &mut Criterion) {
    let k = simd::kernels();
    let mut g = c.benchmark_group("f32");
    for dim in [32usize, 128, 384] {
        let (a, b) = (data(dim, 1), data(dim, 2));
        g.throughput(Throughput::Elements(dim as u64));
        g.bench_with_input(
            BenchmarkId::new(format!("dot/{}", k.name), dim),
            &dim,
            |bn, _| bn.iter(|| (k.dot_f32)(black_box(&a), black_box(&b))),
        );
        g.bench_with_input(BenchmarkId::new("dot/scalar", dim), &dim, |bn, _| {
            bn.iter(|| scalar::dot_f32(black_box(&a), black_box(&b)))
        });
        g.bench_with_input(
            BenchmarkId::new(format!("l2sq/{}", k.name), dim),
            &dim,
            |bn, _| bn.iter(|| (k.l2sq_f32)(black_box(&a), black_box(&b))),
        );
        g.bench_with_input(
            BenchmarkId::new(format!("cos/{}", k.name), dim),
            &dim,
            |bn, _| bn.iter(|| (k.cos_f32)(black_box(&a), black_box(&b))),
        );
    }
    g.finish();
    let mut g = c.benchmark_group("f16");
    let (a, b): (Vec<f16>, Vec<f16>) = (
        data(384, 1).into_iter().map(f16::from_f32).collect(),
        data(384, 2).into_iter().map(f16::from_f32).collect(),
    );
    g.bench_function(format!("dot/{}/384", k.name), |bn| {
        bn.iter(|| (k.dot_f16)(black_box(&a), black_box(&b)))
    });
    g.bench_function("dot/scalar/384", |bn| {
        bn.iter(|| scalar::dot_f16(black_box(&a), black_box(&b)))
    });
    g.finish();
}

fn int_kernels(c: &mut Criterion) {
    let k = simd::kernels();
    let q: Vec<i8> = (0..128).map(|i| (i * 7 % 255 - 127) as i8).collect();
    let x: Vec<i8> = (0..128).map(|i| (i * 13 % 255 - 127) as i8).collect();
    let mut g = c.benchmark_group("i8");
    g.bench_function(format!("dot/{}/128", k.name), |bn| {
        bn.iter(|| (k.dot_i8)(black_box(&q), black_box(&x)))
    });
    g.bench_function("dot/scalar/128", |bn| {
        bn.iter(|| scalar::dot_i8(black_box(&q), black_box(&x)))
    });
    let rows: Vec<i8> = (0..128 * 1000)
        .map(|i| (i * 31 % 255 - 127) as i8)
        .collect();
    let mut out = vec![0i32; 1000];
    g.throughput(Throughput::Elements(1000));
    g.bench_function("rows-1000x128/avx2", |bn| {
        bn.iter(|| avx2::dot_i8_rows(black_box(&q), black_box(&rows), &mut out))
    });
    g.bench_function("rows-1000x128/scalar", |bn| {
        bn.iter(|| scalar::dot_i8_rows(black_box(&q), black_box(&rows), &mut out))
    });
    g.finish();
    let (a, b): (Vec<u8>, Vec<u8>) = (
        (0..16).map(|i| i * 37).collect(),
        (0..16).map(|i| i * 91).collect(),
    );
    let mut g = c.benchmark_group("bits");
    g.bench_function(format!("hamming/{}/128", k.name), |bn| {
        bn.iter(|| (k.hamming)(black_box(&a), black_box(&b)))
    });
    g.bench_function("hamming/scalar/128", |bn| {
        bn.iter(|| scalar::hamming(black_box(&a), black_box(&b)))
    });
    g.finish();
    let m = data(384 * 384, 3);
    let v = data(384, 4);
    let mut out = vec![0f32; 384];
    let mut g = c.benchmark_group("matvec");
    g.bench_function("384x384/simd", |bn| {
        bn.iter(|| avx2::matvec(black_box(&m), 384, 384, black_box(&v), &mut out))
    });
    g.bench_function("384x384/scalar", |bn| {
        bn.iter(|| {
            for (r, o) in out.iter_mut().enumerate() {
                *o = scalar::dot_f32(&m[r * 384..(r + 1) * 384], &v);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, float_kernels, int_kernels);
criterion_main!(benches);
