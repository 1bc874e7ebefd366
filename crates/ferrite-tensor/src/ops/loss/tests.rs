//! Kernel-level checks: the K-dim layout against the 2-D kernel, the backward kernels
//! against finite differences, and the refusals of a mismatched upstream gradient.

use super::*;
use crate::{Indices, seeded_rng};

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, &mut seeded_rng(seed))
}

/// The derivative of a scalar `loss(x)` along each element, by central differences.
fn numeric_grad(x: &Tensor<f64>, loss: impl Fn(&Tensor<f64>) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..x.numel())
        .map(|i| {
            let mut plus = x.clone();
            plus.as_mut_slice()[i] += h;
            let mut minus = x.clone();
            minus.as_mut_slice()[i] -= h;
            (loss(&plus) - loss(&minus)) / (2.0 * h)
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}

#[test]
fn k_dim_cross_entropy_is_the_2d_loss_of_each_position() {
    // [N = 2, C = 3, d = 2] against the [N·d, C] matrix of its positions.
    let x = randn(&[2, 3, 2], 1);
    let target = Indices::from_vec(vec![2, 0, 1, 1], &[2, 2]).unwrap();
    let rows = x
        .permute(&[0, 2, 1])
        .unwrap()
        .contiguous()
        .reshape(&[4, 3])
        .unwrap();
    let flat = Indices::from_vec(vec![2, 0, 1, 1], &[4]).unwrap();
    let opts = CrossEntropyOptions::new()
        .with_reduction(Reduction::None)
        .with_weight(&Tensor::<f64>::from_vec(vec![0.5, 1.0, 2.0], &[3]).unwrap())
        .with_label_smoothing(0.1);
    let (k, softmax) = x.cross_entropy(&target, &opts).unwrap();
    let (two, _) = rows.cross_entropy(&flat, &opts).unwrap();
    assert_eq!(k.shape(), &[2, 2]);
    assert_close(&k.to_vec(), &two.to_vec());
    // The softmax is over dim 1 and in the input's layout.
    let s = softmax.to_vec();
    assert!(((s[0] + s[2] + s[4]) - 1.0).abs() < 1e-12);
}

#[test]
fn class_backward_kernels_match_finite_differences() {
    let x = randn(&[2, 3, 2], 2);
    let target = Indices::from_vec(vec![2, -100, 1, 0], &[2, 2]).unwrap();
    let w = Tensor::<f64>::from_vec(vec![0.5, 1.0, 2.0], &[3]).unwrap();
    let ce = CrossEntropyOptions::new()
        .with_weight(&w)
        .with_label_smoothing(0.2);
    let loss = |t: &Tensor<f64>| t.cross_entropy(&target, &ce).unwrap().0.item().unwrap();
    let (_, softmax) = x.cross_entropy(&target, &ce).unwrap();
    let g = cross_entropy_backward(&Tensor::scalar(1.0), &softmax, &target, &ce).unwrap();
    assert_close(&g.to_vec(), &numeric_grad(&x, loss));

    let nll = NllLossOptions::new().with_weight(&w);
    let loss = |t: &Tensor<f64>| t.nll_loss(&target, &nll).unwrap().item().unwrap();
    let g = nll_loss_backward(&Tensor::scalar(1.0), x.shape(), &target, &nll).unwrap();
    assert_close(&g.to_vec(), &numeric_grad(&x, loss));
}

#[test]
fn elementwise_backward_kernels_match_finite_differences() {
    let x = Tensor::<f64>::rand(&[2, 3], &mut seeded_rng(3))
        .mul_scalar(0.8)
        .add_scalar(0.1);
    let t = Tensor::<f64>::rand(&[2, 3], &mut seeded_rng(4));
    let r = Reduction::Mean;
    let loss = |a: &Tensor<f64>| a.binary_cross_entropy(&t, None, r).unwrap().item().unwrap();
    let g = binary_cross_entropy_backward(&Tensor::scalar(1.0), &x, &t, None, r).unwrap();
    assert_close(&g.input.to_vec(), &numeric_grad(&x, loss));
    let loss = |b: &Tensor<f64>| x.binary_cross_entropy(b, None, r).unwrap().item().unwrap();
    assert_close(&g.target.to_vec(), &numeric_grad(&t, loss));

    let loss = |a: &Tensor<f64>| a.huber_loss(&t, r, 0.2).unwrap().item().unwrap();
    let g = huber_loss_backward(&Tensor::scalar(1.0), &x, &t, r, 0.2).unwrap();
    assert_close(&g.input.to_vec(), &numeric_grad(&x, loss));
}

#[test]
fn backward_refuses_a_gradient_of_the_wrong_size() {
    let softmax = Tensor::<f64>::full(&[2, 2], 0.5);
    let target = Indices::from_classes(&[0, 1]);
    let none = CrossEntropyOptions::new().with_reduction(Reduction::None);
    assert!(cross_entropy_backward(&Tensor::zeros(&[3]), &softmax, &target, &none).is_err());
    let mean = CrossEntropyOptions::new();
    assert!(cross_entropy_backward(&Tensor::zeros(&[2]), &softmax, &target, &mean).is_err());
    let x = Tensor::<f64>::zeros(&[2, 2]);
    assert!(l1_loss_backward(&Tensor::zeros(&[3]), &x, &x, Reduction::None).is_err());
}

#[test]
fn elementwise_losses_give_the_same_bits_with_one_and_two_threads() {
    // More elements than one chunk of the drivers, in f32 and f64, with and without weights.
    let shape = [37, 1013];
    fn bits<T: Float>(x: &Tensor<T>, t: &Tensor<T>, pw: &Tensor<T>) -> Vec<u64> {
        let mut out = Vec::new();
        for (w, p) in [(None, None), (Some(pw), Some(pw))] {
            for r in [Reduction::Mean, Reduction::None] {
                let l = x.binary_cross_entropy_with_logits(t, w, p, r).unwrap();
                let g = Tensor::ones(l.shape());
                let gs = binary_cross_entropy_with_logits_backward(&g, x, t, w, p, r).unwrap();
                let l1 = x.l1_loss(t, r).unwrap();
                for v in [l, gs.input, gs.target, l1] {
                    out.extend(v.to_vec().iter().map(|v| v.as_f64().to_bits()));
                }
            }
        }
        out
    }
    let x = randn(&shape, 1).mul_scalar(4.0);
    let t = randn(&shape, 2).sigmoid();
    let pw = randn(&shape[1..], 3).abs();
    let run = |threads: usize| {
        crate::parallel::with_threads(threads, || {
            let mut b = bits(&x, &t, &pw);
            b.extend(bits(&x.cast::<f32>(), &t.cast::<f32>(), &pw.cast::<f32>()));
            b
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn row_kernels_give_the_same_bits_with_one_and_three_threads() {
    // Several blocks of rows of the softmax kernels (cross-entropy, logsumexp over the last
    // dim and over a middle one), in f32 and f64.
    fn bits<T: Float>(x: &Tensor<T>, classes: &Indices) -> Vec<u64> {
        let opts = CrossEntropyOptions::new().with_label_smoothing(0.1);
        let (loss, softmax) = x.cross_entropy(classes, &opts).unwrap();
        let g = cross_entropy_backward(&Tensor::scalar(T::one()), &softmax, classes, &opts);
        let x3 = x.reshape(&[8, 37, -1]).unwrap();
        let mut out = vec![loss, softmax, g.unwrap()];
        for (t, dim) in [(x, 1), (&x3, 1)] {
            let y = t.logsumexp(&[dim], false).unwrap();
            let g = crate::logsumexp_backward(&Tensor::ones(y.shape()), t, &y, &[dim]);
            out.extend([y, g.unwrap()]);
        }
        out.iter()
            .flat_map(|v| v.to_vec().into_iter().map(|v| v.as_f64().to_bits()))
            .collect()
    }
    let x = randn(&[296, 1013], 4).mul_scalar(3.0);
    let classes = Indices::from_classes(&(0..296).map(|i| (i * 37) % 1013).collect::<Vec<_>>());
    let run = |threads| {
        crate::parallel::with_threads(threads, || {
            let mut b = bits(&x, &classes);
            b.extend(bits(&x.cast::<f32>(), &classes));
            b
        })
    };
    assert_eq!(run(1), run(3));
}
