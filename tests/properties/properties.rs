//! Property tests: random shapes and parameters against naive references; random invalid
//! parameters must give errors, never panics.

use ferrite::prelude::*;
use ferrite::tensor::{Conv2dParams, Pool2dParams};
use proptest::prelude::*;

fn tensor_from(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, &mut seeded_rng(seed))
}

/// Row-major strides of a shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Naive broadcast of `a` (shape `sa`) read at output multi-index `idx` (of rank `n`).
fn read_broadcast(data: &[f64], sa: &[usize], idx: &[usize]) -> f64 {
    let off = idx.len() - sa.len();
    let st = strides(sa);
    let mut flat = 0;
    for (i, &d) in sa.iter().enumerate() {
        let j = if d == 1 { 0 } else { idx[off + i] };
        flat += j * st[i];
    }
    data[flat]
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..4, 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn broadcasting_agrees_with_a_naive_reference(
        sa in shape_strategy(), sb in shape_strategy(), mask_a in any::<u8>(), mask_b in any::<u8>(), seed in 0u64..1000
    ) {
        // Randomly set dims to 1 so that many pairs broadcast.
        let sa: Vec<usize> = sa.iter().enumerate().map(|(i, &d)| if mask_a >> i & 1 == 1 { 1 } else { d }).collect();
        let sb: Vec<usize> = sb.iter().enumerate().map(|(i, &d)| if mask_b >> i & 1 == 1 { 1 } else { d }).collect();
        let (a, b) = (tensor_from(&sa, seed), tensor_from(&sb, seed + 1));
        match ferrite::tensor::broadcast_shapes(&sa, &sb) {
            None => prop_assert!(a.add(&b).is_err()),
            Some(out) => {
                let c = a.mul(&b).unwrap();
                prop_assert_eq!(c.shape(), out.as_slice());
                let (da, db, dc) = (a.to_vec(), b.to_vec(), c.to_vec());
                let st = strides(&out);
                for (flat, &v) in dc.iter().enumerate() {
                    let idx: Vec<usize> = st.iter().zip(&out).map(|(&s, &d)| flat / s % d).collect();
                    let want = read_broadcast(&da, &sa, &idx) * read_broadcast(&db, &sb, &idx);
                    prop_assert_eq!(v, want);
                }
                // The adjoint of broadcasting sums back to the operand's shape.
                prop_assert_eq!(c.sum_to(&sa).unwrap().shape().to_vec(), sa.clone());
            }
        }
    }

    #[test]
    fn reshape_permute_and_flatten_round_trip(shape in prop::collection::vec(1usize..5, 1..5), seed in 0u64..1000, rot in 0usize..4) {
        let t = tensor_from(&shape, seed);
        let n = shape.len();
        let flat = t.reshape(&[-1]).unwrap();
        prop_assert_eq!(flat.to_vec(), t.to_vec());
        let back = flat.reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>()).unwrap();
        prop_assert_eq!(&back, &t);
        // A rotation of the dims and its inverse.
        let perm: Vec<isize> = (0..n).map(|i| ((i + rot) % n) as isize).collect();
        let mut inverse = vec![0isize; n];
        for (i, &p) in perm.iter().enumerate() { inverse[p as usize] = i as isize; }
        prop_assert_eq!(&t.permute(&perm).unwrap().permute(&inverse).unwrap(), &t);
        let f = t.flatten(0, -1).unwrap();
        prop_assert_eq!(f.shape(), &[t.numel()]);
    }

    #[test]
    fn conv2d_matches_a_direct_convolution_and_the_size_formula(
        n in 1usize..3, groups in 1usize..3, cpg in 1usize..3, opg in 1usize..3,
        h in 1usize..9, w in 1usize..9, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..3, sw in 1usize..3, ph in 0usize..3, pw in 0usize..3, dh in 1usize..3, dw in 1usize..3,
        seed in 0u64..1000,
    ) {
        let (c, o) = (groups * cpg, groups * opg);
        let x = tensor_from(&[n, c, h, w], seed);
        let wt = tensor_from(&[o, cpg, kh, kw], seed + 1);
        let b = tensor_from(&[o], seed + 2);
        let p = Conv2dParams::default().with_stride([sh, sw]).with_padding(Padding::Explicit([ph, pw])).with_dilation([dh, dw]).with_groups(groups);
        let eff_h = dh * (kh - 1) + 1;
        let eff_w = dw * (kw - 1) + 1;
        let result = x.conv2d(&wt, Some(&b), &p);
        if h + 2 * ph < eff_h || w + 2 * pw < eff_w {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let y = result.unwrap();
        let (oh, ow) = ((h + 2 * ph - eff_h) / sh + 1, (w + 2 * pw - eff_w) / sw + 1);
        prop_assert_eq!(y.shape(), &[n, o, oh, ow]);
        let (xd, wd, bd, yd) = (x.to_vec(), wt.to_vec(), b.to_vec(), y.to_vec());
        for ni in 0..n { for oi in 0..o { for yi in 0..oh { for xi in 0..ow {
            let g = oi / opg;
            let mut acc = bd[oi];
            for ci in 0..cpg { for ki in 0..kh { for kj in 0..kw {
                let iy = (yi * sh + ki * dh) as isize - ph as isize;
                let ix = (xi * sw + kj * dw) as isize - pw as isize;
                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize { continue; }
                let cin = g * cpg + ci;
                acc += xd[((ni * c + cin) * h + iy as usize) * w + ix as usize] * wd[((oi * cpg + ci) * kh + ki) * kw + kj];
            }}}
            let got = yd[((ni * o + oi) * oh + yi) * ow + xi];
            prop_assert!((got - acc).abs() <= 1e-12 * acc.abs().max(1.0), "{} vs {}", got, acc);
        }}}}
    }

    #[test]
    fn pooling_output_shapes_follow_the_formula(
        h in 1usize..12, w in 1usize..12, k in 1usize..4, s in 1usize..4, p in 0usize..3, ceil in any::<bool>(), seed in 0u64..1000
    ) {
        let x = tensor_from(&[1, 2, h, w], seed);
        let params = Pool2dParams::new([k, k]).with_stride([s, s]).with_padding([p, p]).with_ceil_mode(ceil);
        // PyTorch's pooling_output_shape: signed arithmetic, division rounding down.
        let size = |len: usize| -> Option<usize> {
            let (len, k, s, p) = (len as i64, k as i64, s as i64, p as i64);
            let mut out = (len + 2 * p - k + if ceil { s - 1 } else { 0 }).div_euclid(s) + 1;
            if ceil && (out - 1) * s >= len + p { out -= 1; }
            usize::try_from(out).ok()
        };
        let result = x.max_pool2d(&params);
        match (2 * p <= k, size(h), size(w)) {
            (true, Some(oh), Some(ow)) if oh > 0 && ow > 0 => {
                let y = result.unwrap();
                prop_assert_eq!(y.shape(), &[1, 2, oh, ow]);
                prop_assert_eq!(x.avg_pool2d(&params).unwrap().shape().to_vec(), vec![1, 2, oh, ow]);
            }
            _ => prop_assert!(result.is_err()),
        }
    }

    #[test]
    fn invalid_parameters_are_errors_not_panics(
        shape in prop::collection::vec(0usize..4, 0..6), k in 0usize..6, s in 0usize..3, pad in 0usize..4,
        groups in 0usize..4, o in 0usize..4, dim in -8isize..8, target in prop::collection::vec(-3isize..6, 0..4),
    ) {
        let x = Tensor::<f64>::zeros(&shape);
        let w = Tensor::<f64>::zeros(&[o, shape.get(1).copied().unwrap_or(1), k, k]);
        let p = Conv2dParams::default().with_stride([s, s]).with_padding(Padding::Explicit([pad, pad])).with_groups(groups);
        let _ = x.conv2d(&w, None, &p);
        let _ = x.max_pool2d(&Pool2dParams::new([k, k]).with_stride([s, s]).with_padding([pad, pad]));
        let _ = x.avg_pool2d(&Pool2dParams::new([k, k]).with_stride([s, s]).with_padding([pad, pad]));
        let _ = x.reshape(&target);
        let _ = x.sum(&[dim], true);
        let _ = x.amax(&[dim], false);
        let _ = x.max(dim, false);
        let _ = x.argmax(dim, false);
        let _ = x.narrow(dim, k, s);
        let _ = x.unsqueeze(dim);
        let _ = x.flatten(dim, -1);
        let _ = x.matmul(&w);
        let _ = x.linear(&w, None);
        let _ = Tensor::cat(&[&x, &w], dim);
        let v = Var::parameter(x.clone());
        let _ = v.log_softmax(dim);
        let _ = ferrite::nn::loss::cross_entropy(&v, &Indices::from_classes(&[k, s]), &Default::default());
    }
}
