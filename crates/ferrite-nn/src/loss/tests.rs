//! Gradient checks (f64) of every loss with respect to its input and float target, the
//! error cases, and consistency checks between the fused losses and their compositions.

use super::*;
use ferrite_autograd::{GradcheckOptions, gradcheck};
use ferrite_tensor::{Tensor, TensorError, seeded_rng};

const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, &mut seeded_rng(seed))
}

/// Uniform in `[lo, hi)`.
fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, lo, hi, &mut seeded_rng(seed))
}

fn classes(values: &[i64], shape: &[usize]) -> Indices {
    Indices::from_vec(values.to_vec(), shape).unwrap()
}

fn check(what: &str, f: impl Fn(&[Var<f64>]) -> Result<Var<f64>>, inputs: &[Tensor<f64>]) {
    let names = ["input", "target"];
    gradcheck(
        f,
        inputs,
        &GradcheckOptions::default().with_input_names(&names[..inputs.len()]),
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn refuses(what: &str, needles: &[&str], result: Result<Var<f64>>) {
    let err = match result {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{what}: expected an error, got shape {:?}", v.shape()),
    };
    for n in needles {
        assert!(err.contains(n), "{what}: '{err}' lacks '{n}'");
    }
}

fn weight(c: usize) -> Tensor<f64> {
    uniform(&[c], 0.5, 2.0, 99)
}

#[test]
fn cross_entropy_class_targets_gradcheck() {
    // [N, C], K-dim [N, C, d1, d2] and unbatched [C], with weights, ignore_index, smoothing.
    let layouts: [(Vec<usize>, Indices); 3] = [
        (vec![4, 5], classes(&[2, 0, 4, 1], &[4])),
        (
            vec![2, 3, 2, 2],
            classes(&[0, 1, 2, 1, 2, 2, 0, 1], &[2, 2, 2]),
        ),
        (vec![4], Indices::scalar(3)),
    ];
    for (shape, target) in &layouts {
        let c = shape
            .first()
            .map_or(1, |_| if shape.len() == 1 { shape[0] } else { shape[1] });
        for reduction in REDUCTIONS {
            for eps in [0.0, 0.2] {
                for (w, ignore) in [(None, -100), (Some(weight(c)), 1), (Some(weight(c)), -100)] {
                    let mut o = CrossEntropyOptions::new()
                        .with_reduction(reduction)
                        .with_label_smoothing(eps)
                        .with_ignore_index(ignore);
                    if let Some(w) = &w {
                        o = o.with_weight(w);
                    }
                    let what =
                        format!("cross_entropy {shape:?} {reduction:?} ε={eps} ignore={ignore}");
                    check(
                        &what,
                        |v| cross_entropy(&v[0], target, &o),
                        &[randn(shape, 7)],
                    );
                }
            }
        }
    }
}

#[test]
fn cross_entropy_probability_targets_gradcheck() {
    for shape in [vec![3, 4], vec![2, 3, 2, 2], vec![5]] {
        let probs = uniform(&shape, 0.0, 1.0, 3);
        let c = if shape.len() == 1 { shape[0] } else { shape[1] };
        for reduction in REDUCTIONS {
            for eps in [0.0, 0.1] {
                for w in [None, Some(weight(c))] {
                    let mut o = CrossEntropyOptions::new()
                        .with_reduction(reduction)
                        .with_label_smoothing(eps);
                    if let Some(w) = &w {
                        o = o.with_weight(w);
                    }
                    let what = format!("cross_entropy probs {shape:?} {reduction:?} ε={eps}");
                    check(
                        &what,
                        |v| cross_entropy(&v[0], &probs, &o),
                        &[randn(&shape, 8)],
                    );
                }
            }
        }
    }
}

#[test]
fn nll_loss_gradcheck() {
    let cases: [(Vec<usize>, Indices); 3] = [
        (vec![3, 4], classes(&[1, 0, 3], &[3])),
        (vec![2, 3, 2], classes(&[0, 2, 1, 1], &[2, 2])),
        (vec![4], Indices::scalar(2)),
    ];
    for (shape, target) in &cases {
        let c = if shape.len() == 1 { shape[0] } else { shape[1] };
        for reduction in REDUCTIONS {
            for (w, ignore) in [(None, -100), (Some(weight(c)), 0)] {
                let mut o = NllLossOptions::new()
                    .with_reduction(reduction)
                    .with_ignore_index(ignore);
                if let Some(w) = &w {
                    o = o.with_weight(w);
                }
                let what = format!("nll_loss {shape:?} {reduction:?} ignore={ignore}");
                check(&what, |v| nll_loss(&v[0], target, &o), &[randn(shape, 5)]);
            }
        }
    }
}

#[test]
fn elementwise_losses_gradcheck_input_and_target() {
    // Inputs and targets from different draws: |x - t| stays away from the kinks.
    let (x, t) = (randn(&[3, 4], 11), randn(&[3, 4], 12));
    for r in REDUCTIONS {
        check(
            "mse_loss",
            |v| mse_loss(&v[0], &v[1], r),
            &[x.clone(), t.clone()],
        );
        check(
            "l1_loss",
            |v| l1_loss(&v[0], &v[1], r),
            &[x.clone(), t.clone()],
        );
        for beta in [0.0, 0.5, 2.0] {
            let f = |v: &[Var<f64>]| smooth_l1_loss(&v[0], &v[1], r, beta);
            check(
                &format!("smooth_l1_loss β={beta}"),
                f,
                &[x.clone(), t.clone()],
            );
        }
        for delta in [0.3, 1.0, 3.0] {
            let f = |v: &[Var<f64>]| huber_loss(&v[0], &v[1], r, delta);
            check(&format!("huber_loss δ={delta}"), f, &[x.clone(), t.clone()]);
        }
    }
}

#[test]
fn binary_cross_entropy_gradcheck_input_and_target() {
    let p = uniform(&[3, 4], 0.05, 0.95, 21);
    let t = uniform(&[3, 4], 0.0, 1.0, 22);
    for r in REDUCTIONS {
        for w in [
            None,
            Some(uniform(&[4], 0.5, 2.0, 23)),
            Some(uniform(&[3, 4], 0.5, 2.0, 24)),
        ] {
            let f = |v: &[Var<f64>]| binary_cross_entropy(&v[0], &v[1], w.as_ref(), r);
            check(
                &format!("binary_cross_entropy {r:?}"),
                f,
                &[p.clone(), t.clone()],
            );
        }
    }
}

#[test]
fn binary_cross_entropy_with_logits_gradcheck_input_and_target() {
    let x = randn(&[3, 4], 31).mul_scalar(3.0);
    let t = uniform(&[3, 4], 0.0, 1.0, 32);
    let w = uniform(&[3, 1], 0.5, 2.0, 33);
    let pw = uniform(&[4], 0.5, 3.0, 34);
    for r in REDUCTIONS {
        for (w, pw) in [
            (None, None),
            (Some(&w), None),
            (None, Some(&pw)),
            (Some(&w), Some(&pw)),
        ] {
            let f = |v: &[Var<f64>]| binary_cross_entropy_with_logits(&v[0], &v[1], w, pw, r);
            check(
                &format!("bce_with_logits {r:?}"),
                f,
                &[x.clone(), t.clone()],
            );
        }
    }
}

#[test]
fn kl_div_gradcheck_input_and_target() {
    let logq = Var::new(randn(&[3, 4], 41)).log_softmax(1).unwrap().value();
    let p = uniform(&[3, 4], 0.05, 1.0, 42);
    let logp = randn(&[3, 4], 43);
    for r in [
        KlDivReduction::Mean,
        KlDivReduction::BatchMean,
        KlDivReduction::Sum,
        KlDivReduction::None,
    ] {
        let f = |v: &[Var<f64>]| kl_div(&v[0], &v[1], r, false);
        check(&format!("kl_div {r:?}"), f, &[logq.clone(), p.clone()]);
        let f = |v: &[Var<f64>]| kl_div(&v[0], &v[1], r, true);
        check(
            &format!("kl_div log_target {r:?}"),
            f,
            &[logq.clone(), logp.clone()],
        );
    }
}

#[test]
fn cross_entropy_is_log_softmax_then_nll_with_weights_and_ignore() {
    // [N, C, d]: the class dim is 1, so log_softmax over dim 1 then nll_loss.
    let x = randn(&[2, 4, 3], 1);
    let target = classes(&[3, 1, 0, 2, 2, 1], &[2, 3]);
    let w = weight(4);
    for reduction in REDUCTIONS {
        let ce = CrossEntropyOptions::new()
            .with_weight(&w)
            .with_ignore_index(2)
            .with_reduction(reduction);
        let nll = NllLossOptions::new()
            .with_weight(&w)
            .with_ignore_index(2)
            .with_reduction(reduction);
        let fused = cross_entropy(&Var::new(x.clone()), &target, &ce)
            .unwrap()
            .value();
        let logp = Var::new(x.clone()).log_softmax(1).unwrap();
        let composed = nll_loss(&logp, &target, nll).unwrap().value();
        assert_eq!(fused.shape(), composed.shape());
        for (a, b) in fused.to_vec().iter().zip(composed.to_vec()) {
            assert!((a - b).abs() < 1e-12, "{reduction:?}: {a} vs {b}");
        }
    }
}

#[test]
fn one_hot_probabilities_equal_class_targets_without_weights() {
    let x = randn(&[3, 4], 2);
    let target = [2usize, 0, 3];
    let mut one_hot = vec![0.0; 12];
    for (i, &y) in target.iter().enumerate() {
        one_hot[i * 4 + y] = 1.0;
    }
    let probs = Tensor::from_vec(one_hot, &[3, 4]).unwrap();
    let o = CrossEntropyOptions::new().with_label_smoothing(0.3);
    let a = cross_entropy(&Var::new(x.clone()), &Indices::from_classes(&target), &o).unwrap();
    let b = cross_entropy(&Var::new(x), &probs, &o).unwrap();
    assert!((a.item().unwrap() - b.item().unwrap()).abs() < 1e-12);
}

#[test]
fn cross_entropy_label_smoothing_formula() {
    // loss = (1-ε)(-log p_y) + ε/C Σ_c(-log p_c), written out with log_softmax.
    let x = randn(&[2, 3], 3);
    let target = [1, 2];
    let eps = 0.2;
    let logp = Var::new(x.clone()).log_softmax(1).unwrap().value().to_vec();
    let mut expected = 0.0;
    for (i, &y) in target.iter().enumerate() {
        let row = &logp[i * 3..i * 3 + 3];
        expected += (1.0 - eps) * -row[y] + eps / 3.0 * row.iter().map(|l| -l).sum::<f64>();
    }
    let opts = CrossEntropyOptions::new()
        .with_reduction(Reduction::Sum)
        .with_label_smoothing(eps);
    let got = cross_entropy(&Var::new(x), &Indices::from_classes(&target), &opts)
        .unwrap()
        .item()
        .unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    let x = Var::parameter(Tensor::<f32>::from_vec(vec![1e4, 0.0, -1e4, 1e4], &[2, 2]).unwrap());
    let loss = cross_entropy(
        &x,
        &Indices::from_classes(&[0, 0]),
        &CrossEntropyOptions::new(),
    )
    .unwrap();
    // Row 0: p_0 = 1, loss 0; row 1: loss 2e4. Mean 1e4.
    assert_eq!(loss.item().unwrap(), 1e4);
    loss.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.0, -0.5, 0.5]);
}

#[test]
fn bce_with_logits_is_stable_for_huge_logits() {
    let x = Var::parameter(Tensor::<f32>::from_vec(vec![1e4, -1e4], &[2]).unwrap());
    let t = Var::new(Tensor::<f32>::from_vec(vec![0.0, 1.0], &[2]).unwrap());
    let loss = binary_cross_entropy_with_logits(&x, &t, None, None, Reduction::None).unwrap();
    assert_eq!(loss.value().to_vec(), vec![1e4, 1e4]);
    loss.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, -1.0]);
}

#[test]
fn bce_clamps_the_logs_at_minus_100() {
    let p = Var::new(Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2]).unwrap());
    let t = Var::new(Tensor::<f64>::from_vec(vec![1.0, 0.0], &[2]).unwrap());
    let loss = binary_cross_entropy(&p, &t, None, Reduction::None).unwrap();
    assert_eq!(loss.value().to_vec(), vec![100.0, 100.0]);
}

#[test]
fn single_sample_and_ignored_targets() {
    let x = Var::parameter(Tensor::<f64>::zeros(&[4]));
    let opts = CrossEntropyOptions::new().with_reduction(Reduction::None);
    let loss = cross_entropy(&x, &Indices::scalar(2), &opts).unwrap();
    assert_eq!(loss.shape(), Vec::<usize>::new());
    assert!((loss.item().unwrap() - 4f64.ln()).abs() < 1e-12);
    loss.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.25, 0.25, -0.75, 0.25]);

    // Every target ignored: the mean is 0 / 0 (NaN, as PyTorch), the sum 0.
    let x = Var::new(Tensor::<f64>::zeros(&[2, 3]));
    let all_ignored = classes(&[-100, -100], &[2]);
    let mean = cross_entropy(&x, &all_ignored, &CrossEntropyOptions::new()).unwrap();
    assert!(mean.item().unwrap().is_nan());
    let sum = nll_loss(&x, &all_ignored, Reduction::Sum).unwrap();
    assert_eq!(sum.item().unwrap(), 0.0);
}

#[test]
fn mean_of_nothing_is_nan() {
    let x = Var::new(Tensor::<f64>::zeros(&[0, 3]));
    let loss = cross_entropy(&x, &Indices::from_classes(&[]), &CrossEntropyOptions::new()).unwrap();
    assert!(loss.item().unwrap().is_nan());
    let e = Var::new(Tensor::<f64>::zeros(&[0]));
    assert!(
        l1_loss(&e, &e, Reduction::Mean)
            .unwrap()
            .item()
            .unwrap()
            .is_nan()
    );
}

#[test]
fn class_losses_refuse_bad_arguments() {
    let x = Var::new(Tensor::<f64>::zeros(&[2, 3]));
    let o = CrossEntropyOptions::new();
    let two = Indices::from_classes(&[0, 1]);
    refuses(
        "target 3",
        &["cross_entropy", "target 3", "3 classes", "0 to 2"],
        cross_entropy(&x, &Indices::from_classes(&[0, 3]), &o),
    );
    refuses(
        "negative target",
        &["target -1"],
        cross_entropy(&x, &classes(&[-1, 0], &[2]), &o),
    );
    refuses(
        "ignore_index outside the range does not excuse other targets",
        &["target 5"],
        cross_entropy(&x, &classes(&[5, 0], &[2]), &o.clone().with_ignore_index(4)),
    );
    refuses(
        "weight size",
        &["weight", "[3]", "[4]"],
        cross_entropy(&x, &two, &o.clone().with_weight(&Tensor::<f64>::ones(&[4]))),
    );
    refuses(
        "2-D weight",
        &["weight", "[1, 3]"],
        cross_entropy(
            &x,
            &two,
            &o.clone().with_weight(&Tensor::<f64>::ones(&[1, 3])),
        ),
    );
    refuses(
        "batch mismatch",
        &["shape [2]", "found [3]"],
        cross_entropy(&x, &Indices::from_classes(&[0, 1, 2]), &o),
    );
    let x3 = Var::new(Tensor::<f64>::zeros(&[2, 3, 4]));
    refuses(
        "K-dim target",
        &["[2, 4]", "found [2, 5]"],
        cross_entropy(&x3, &Indices::from_vec(vec![0; 10], &[2, 5]).unwrap(), &o),
    );
    refuses(
        "0-d input",
        &["[C]"],
        cross_entropy(&Var::new(Tensor::scalar(0.0)), &Indices::scalar(0), &o),
    );
    refuses(
        "[C] input with [1] target",
        &["shape []", "found [1]"],
        cross_entropy(
            &Var::new(Tensor::<f64>::zeros(&[3])),
            &Indices::from_classes(&[0]),
            &o,
        ),
    );
    let probs = Tensor::<f64>::full(&[2, 3], 1.0 / 3.0);
    refuses(
        "probabilities with ignore_index 1",
        &["ignore_index", "probability"],
        cross_entropy(&x, &probs, &o.clone().with_ignore_index(1)),
    );
    refuses(
        "probabilities of another shape",
        &["probabilities", "[2, 3]", "[3, 2]"],
        cross_entropy(&x, &Tensor::<f64>::zeros(&[3, 2]), &o),
    );
    refuses(
        "label smoothing",
        &["label_smoothing"],
        cross_entropy(&x, &probs, &o.clone().with_label_smoothing(-0.5)),
    );
    refuses(
        "nll target",
        &["nll_loss", "target 3"],
        nll_loss(&x, &Indices::from_classes(&[3, 0]), Reduction::Mean),
    );
    refuses(
        "nll weight",
        &["nll_loss", "weight"],
        nll_loss(
            &x,
            &two,
            NllLossOptions::new().with_weight(&Tensor::<f64>::ones(&[2])),
        ),
    );
}

#[test]
fn elementwise_losses_refuse_bad_arguments() {
    let a = Var::new(Tensor::<f64>::full(&[2, 3], 0.5));
    let b = Var::new(Tensor::<f64>::full(&[3], 0.5));
    let r = Reduction::Mean;
    refuses(
        "l1 shapes",
        &["l1_loss", "[2, 3]", "[3]"],
        l1_loss(&a, &b, r),
    );
    refuses(
        "smooth_l1 shapes",
        &["smooth_l1_loss"],
        smooth_l1_loss(&a, &b, r, 1.0),
    );
    refuses(
        "smooth_l1 beta",
        &["smooth_l1_loss", "beta", "-1"],
        smooth_l1_loss(&a, &a, r, -1.0),
    );
    refuses(
        "smooth_l1 beta NaN",
        &["beta", "NaN"],
        smooth_l1_loss(&a, &a, r, f64::NAN),
    );
    refuses(
        "huber delta",
        &["huber_loss", "delta", "0"],
        huber_loss(&a, &a, r, 0.0),
    );
    refuses("huber shapes", &["huber_loss"], huber_loss(&a, &b, r, 1.0));
    refuses(
        "kl_div shapes",
        &["kl_div"],
        kl_div(&a, &b, KlDivReduction::BatchMean, false),
    );
    refuses(
        "bce shapes",
        &["binary_cross_entropy", "[3]"],
        binary_cross_entropy(&a, &b, None, r),
    );
    let outside = Var::new(Tensor::<f64>::from_vec(vec![0.5, 1.5], &[2]).unwrap());
    let t = Var::new(Tensor::<f64>::ones(&[2]));
    refuses(
        "bce input 1.5",
        &["binary_cross_entropy", "[0, 1]", "1.5", "position 1"],
        binary_cross_entropy(&outside, &t, None, r),
    );
    let nan = Var::new(Tensor::<f64>::from_vec(vec![f64::NAN, 0.5], &[2]).unwrap());
    refuses(
        "bce input NaN",
        &["NaN"],
        binary_cross_entropy(&nan, &t, None, r),
    );
    let w = Tensor::<f64>::ones(&[2]);
    refuses(
        "bce weight",
        &["weight", "[2]", "[2, 3]"],
        binary_cross_entropy(&a, &a, Some(&w), r),
    );
    refuses(
        "bce_with_logits shapes",
        &["binary_cross_entropy_with_logits"],
        binary_cross_entropy_with_logits(&a, &b, None, None, r),
    );
    refuses(
        "pos_weight",
        &["pos_weight", "[2]"],
        binary_cross_entropy_with_logits(&a, &a, None, Some(&w), r),
    );
    let big = Tensor::<f64>::ones(&[4, 2, 3]);
    refuses(
        "weight larger than the input",
        &["weight", "[4, 2, 3]"],
        binary_cross_entropy_with_logits(&a, &a, Some(&big), None, r),
    );
}

#[test]
fn reductions_parse_like_pytorch_strings() {
    assert_eq!("sum".parse::<Reduction>().unwrap(), Reduction::Sum);
    let e: TensorError = "batchmean".parse::<Reduction>().unwrap_err();
    assert!(e.to_string().contains("batchmean"), "{e}");
    assert_eq!(
        "none".parse::<KlDivReduction>().unwrap(),
        KlDivReduction::None
    );
    assert!("avg".parse::<KlDivReduction>().is_err());
}

#[test]
fn kl_div_batchmean_divides_by_the_batch_and_handles_zero_targets() {
    let logq = Var::new(Tensor::<f64>::full(&[2, 2], 0.5f64.ln()));
    let p = Var::new(Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.5, 0.5], &[2, 2]).unwrap());
    let sum = kl_div(&logq, &p, KlDivReduction::Sum, false)
        .unwrap()
        .item()
        .unwrap();
    let batchmean = kl_div(&logq, &p, KlDivReduction::BatchMean, false)
        .unwrap()
        .item()
        .unwrap();
    let mean = kl_div(&logq, &p, KlDivReduction::Mean, false)
        .unwrap()
        .item()
        .unwrap();
    assert!(
        (sum - 2f64.ln()).abs() < 1e-12,
        "t = 0 contributes 0: {sum}"
    );
    assert_eq!(batchmean, sum / 2.0);
    assert_eq!(mean, sum / 4.0);
}

#[test]
fn module_forms_match_the_functions() {
    let x = Var::new(randn(&[3, 4], 51));
    let t = Var::new(uniform(&[3, 4], 0.0, 1.0, 52));
    let p = Var::new(uniform(&[3, 4], 0.1, 0.9, 53));
    let y = Indices::from_classes(&[0, 3, 1]);
    let r = Reduction::Sum;
    let same = |a: Result<Var<f64>>, b: Result<Var<f64>>| {
        assert_eq!(a.unwrap().value().to_vec(), b.unwrap().value().to_vec());
    };
    same(
        MSELoss::new().with_reduction(r).forward(&x, &t),
        mse_loss(&x, &t, r),
    );
    same(
        L1Loss::new().with_reduction(r).forward(&x, &t),
        l1_loss(&x, &t, r),
    );
    same(
        SmoothL1Loss::new().with_beta(0.3).forward(&x, &t),
        smooth_l1_loss(&x, &t, Reduction::Mean, 0.3),
    );
    same(
        HuberLoss::new().with_delta(0.3).forward(&x, &t),
        huber_loss(&x, &t, Reduction::Mean, 0.3),
    );
    same(
        KLDivLoss::new().with_log_target(true).forward(&x, &t),
        kl_div(&x, &t, KlDivReduction::Mean, true),
    );
    let w = uniform(&[4], 0.5, 2.0, 54);
    same(
        BCELoss::new().with_weight(w.clone()).forward(&p, &t),
        binary_cross_entropy(&p, &t, Some(&w), Reduction::Mean),
    );
    same(
        BCEWithLogitsLoss::new()
            .with_pos_weight(w.clone())
            .forward(&x, &t),
        binary_cross_entropy_with_logits(&x, &t, None, Some(&w), Reduction::Mean),
    );
    let logp = x.log_softmax(1).unwrap();
    same(
        NLLLoss::new().with_weight(&w).forward(&logp, &y),
        nll_loss(&logp, &y, NllLossOptions::new().with_weight(&w)),
    );
    let ce = CrossEntropyLoss::new()
        .with_label_smoothing(0.1)
        .with_ignore_index(3);
    same(ce.forward(&x, &y), cross_entropy(&x, &y, &ce.options));
}
