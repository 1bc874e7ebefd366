//! ferrite-tensor: creation, element-wise, reductions, conv2d and pooling kernels.

use super::*;

#[test]
fn tensor_creation_refuses_bad_shapes() {
    let mut a = Audit::new("Tensor creation");
    a.refuses(
        "from_vec: 3 values for [2, 2]",
        &["from_vec", "[2, 2]", "4", "3"],
        || Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[2, 2]),
    );
    a.refuses(
        "from_vec: overflowing shape [usize::MAX/2, 4]",
        &["from_vec", "9223372036854775807, 4"],
        || Tensor::<f32>::from_vec(vec![], &[HUGE, 4]),
    );
    a.refuses(
        "from_vec: empty data for [0, usize::MAX, 2] (product of non-zero dims overflows)",
        &["from_vec", "18446744073709551615"],
        || Tensor::<f32>::from_vec(vec![], &[0, usize::MAX, 2]),
    );
    a.refuses("arange: zero step", &["arange", "0", "1"], || {
        Tensor::<f32>::arange(0.0, 1.0, 0.0)
    });
    a.refuses("arange: step away from end", &["arange", "-1"], || {
        Tensor::<f32>::arange(0.0, 1.0, -1.0)
    });
    a.refuses("arange: NaN end", &["arange", "NaN"], || {
        Tensor::<f64>::arange(0.0, f64::NAN, 1.0)
    });
    a.refuses(
        "arange: more values than memory can hold (0 to f64::MAX by 1)",
        &["arange"],
        || Tensor::<f64>::arange(0.0, f64::MAX, 1.0).map(|t| t.numel()),
    );
    a.refuses("item: two elements", &["item", "[2]"], || z(&[2]).item());
    a.refuses("item: no element", &["item", "[0]"], || z(&[0]).item());
    a.refuses(
        "normalize_dim: 3 of 3 dims",
        &["sum", "3", "-3 to 2"],
        || normalize_dim("sum", 3, 3),
    );
    a.refuses(
        "normalize_dim: isize::MIN",
        &["sum", "-9223372036854775808"],
        || normalize_dim("sum", isize::MIN, 3),
    );
    a.finish();
}

/// The constructors that return a `Tensor` (not a `Result`) with a shape whose element
/// count overflows: they cannot refuse, so they panic (documented in `# Panics`) with the
/// message of their fallible `try_` form, which refuses the shape.
#[test]
fn infallible_constructors_with_overflowing_shapes() {
    let mut a = Audit::new("infallible constructors");
    let mut rng = seeded_rng(0);
    let shape = &[HUGE, 4];
    let numbers = "[9223372036854775807, 4]";
    a.refuses(
        "Tensor::try_zeros([usize::MAX/2, 4])",
        &["zeros", numbers],
        || Tensor::<f32>::try_zeros(shape),
    );
    a.refuses(
        "Tensor::try_ones([usize::MAX/2, 4])",
        &["ones", numbers],
        || Tensor::<f32>::try_ones(shape),
    );
    a.refuses(
        "Tensor::try_full([usize::MAX/2, 4])",
        &["full", numbers],
        || Tensor::<f32>::try_full(shape, 1.0),
    );
    a.refuses(
        "Tensor::try_rand([usize::MAX/2, 4])",
        &["rand", numbers],
        || Tensor::<f32>::try_rand(shape, &mut rng),
    );
    a.refuses(
        "Tensor::try_randn([usize::MAX/2, 4])",
        &["randn", numbers],
        || Tensor::<f32>::try_randn(shape, &mut rng),
    );
    a.refuses(
        "Tensor::try_uniform([usize::MAX/2, 4])",
        &["uniform", numbers],
        || Tensor::<f32>::try_uniform(shape, 0.0, 1.0, &mut rng),
    );
    a.refuses(
        "Tensor::try_normal([usize::MAX/2, 4])",
        &["normal", numbers],
        || Tensor::<f32>::try_normal(shape, 0.0, 1.0, &mut rng),
    );
    a.refuses(
        "Tensor::try_zeros([2^31, 2^31]): 2^62 elements, 2^64 bytes",
        &["zeros", "[2147483648, 2147483648]"],
        || Tensor::<f32>::try_zeros(&[1 << 31, 1 << 31]),
    );

    a.panics_with(
        "Tensor::zeros([usize::MAX/2, 4])",
        &["zeros: ", numbers],
        || Tensor::<f32>::zeros(shape),
    );
    a.panics_with(
        "Tensor::ones([usize::MAX/2, 4])",
        &["ones: ", numbers],
        || Tensor::<f32>::ones(shape),
    );
    a.panics_with(
        "Tensor::full([usize::MAX/2, 4])",
        &["full: ", numbers],
        || Tensor::<f32>::full(shape, 1.0),
    );
    a.panics_with(
        "Tensor::rand([usize::MAX/2, 4])",
        &["rand: ", numbers],
        || Tensor::<f32>::rand(shape, &mut rng),
    );
    a.panics_with(
        "Tensor::randn([usize::MAX/2, 4])",
        &["randn: ", numbers],
        || Tensor::<f32>::randn(shape, &mut rng),
    );
    a.panics_with(
        "Tensor::uniform([usize::MAX/2, 4])",
        &["uniform: ", numbers],
        || Tensor::<f32>::uniform(shape, 0.0, 1.0, &mut rng),
    );
    a.panics_with(
        "Tensor::normal([usize::MAX/2, 4])",
        &["normal: ", numbers],
        || Tensor::<f32>::normal(shape, 0.0, 1.0, &mut rng),
    );
    a.panics_with(
        "init::zeros([usize::MAX/2, 4])",
        &["zeros: ", numbers],
        || init::zeros::<f32>(shape),
    );
    a.panics_with(
        "init::uniform([usize::MAX/2, 4])",
        &["uniform: ", numbers],
        || init::uniform::<f32>(shape, 0.0, 1.0, &mut rng),
    );
    a.finish();
}

#[test]
fn tensor_elementwise_and_shape_ops_refuse_bad_dims() {
    let mut a = Audit::new("Tensor elementwise and shape ops");
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    a.refuses("add [2, 3] + [4]", &["add", "[2, 3]", "[4]"], || {
        x.add(&z(&[4]))
    });
    a.refuses("sub [2, 3] - [2]", &["sub", "[2, 3]", "[2]"], || {
        x.sub(&z(&[2]))
    });
    a.refuses("mul [2, 3] * [3, 2]", &["mul", "[2, 3]", "[3, 2]"], || {
        x.mul(&z(&[3, 2]))
    });
    a.refuses("div [2, 3] / [0]", &["div", "[2, 3]", "[0]"], || {
        x.div(&z(&[0]))
    });
    a.refuses("zip_with: mismatch", &["my_op", "[2, 3]", "[5]"], || {
        x.zip_with("my_op", &z(&[5]), |a, b| a + b)
    });
    a.refuses("sum_to [2, 3] -> [4]", &["sum_to", "[2, 3]", "[4]"], || {
        x.sum_to(&[4])
    });
    a.refuses(
        "sum_to [2, 3] -> [3, 3]",
        &["sum_to", "[2, 3]", "[3, 3]"],
        || x.sum_to(&[3, 3]),
    );

    a.refuses(
        "reshape to [usize::MAX/2, 4]",
        &["reshape", "9223372036854775807, 4", "6"],
        || x.reshape(&[HUGE as isize, 4]),
    );
    a.refuses("reshape to [4]", &["reshape", "[4]", "6"], || {
        x.reshape(&[4])
    });
    a.refuses("reshape with two -1", &["reshape", "-1, -1"], || {
        x.reshape(&[-1, -1])
    });
    a.refuses("reshape with -2", &["reshape", "-2"], || {
        x.reshape(&[-2, 3])
    });
    a.refuses("reshape to [0, -1]", &["reshape", "[0, -1]"], || {
        x.reshape(&[0, -1])
    });
    a.refuses(
        "reshape an empty tensor to [0, isize::MAX, isize::MAX]",
        &["reshape", "[0, 9223372036854775807, 9223372036854775807]"],
        || z(&[0]).reshape(&[0, isize::MAX, isize::MAX]),
    );
    a.refuses("flatten(1, 0)", &["flatten", "1", "0"], || x.flatten(1, 0));
    a.refuses(
        "flatten(0, 2) of 2-D",
        &["flatten", "2", "2 dimensions"],
        || x.flatten(0, 2),
    );
    a.refuses("flatten(-3, -1) of 2-D", &["flatten", "-3"], || {
        x.flatten(-3, -1)
    });
    a.refuses("flatten(1, 1) of 0-D", &["flatten", "1"], || {
        Tensor::<f32>::scalar(1.0).flatten(1, 1)
    });
    a.refuses(
        "permute with 1 dim for 2-D",
        &["permute", "[0]", "[2, 3]"],
        || x.permute(&[0]),
    );
    a.refuses("permute with repeated dim", &["permute", "[0, 0]"], || {
        x.permute(&[0, 0])
    });
    a.refuses(
        "permute with -1, 1 (same dim)",
        &["permute", "[-1, 1]"],
        || x.permute(&[-1, 1]),
    );
    a.refuses("permute with dim 2 of 2-D", &["permute", "2"], || {
        x.permute(&[0, 2])
    });
    a.refuses("transpose(0, 2)", &["transpose", "2"], || x.transpose(0, 2));
    a.refuses("transpose(-3, 0)", &["transpose", "-3"], || {
        x.transpose(-3, 0)
    });
    a.refuses("transpose(0, 1) of 0-D", &["transpose", "1"], || {
        Tensor::<f32>::scalar(1.0).transpose(0, 1)
    });
    a.refuses("squeeze(2)", &["squeeze", "2"], || x.squeeze(2));
    a.refuses("squeeze(-3)", &["squeeze", "-3"], || x.squeeze(-3));
    a.refuses("unsqueeze(4) of 2-D", &["unsqueeze", "4"], || {
        x.unsqueeze(4)
    });
    a.refuses("unsqueeze(-4) of 2-D", &["unsqueeze", "-4"], || {
        x.unsqueeze(-4)
    });
    a.refuses(
        "narrow(1, 2, 2): past the end",
        &["narrow", "2", "3"],
        || x.narrow(1, 2, 2),
    );
    a.refuses(
        "narrow(0, usize::MAX, 2): start + length overflows",
        &["narrow", "18446744073709551615"],
        || x.narrow(0, usize::MAX, 2),
    );
    a.refuses("narrow(2, ..) of 2-D", &["narrow", "2"], || {
        x.narrow(2, 0, 1)
    });
    a.refuses("narrow of 0-D", &["narrow", "0-dimensional"], || {
        Tensor::<f32>::scalar(1.0).narrow(0, 0, 1)
    });
    a.refuses(
        "broadcast_to [2, 3] -> [3, 3]",
        &["broadcast_to", "[2, 3]", "[3, 3]"],
        || x.broadcast_to(&[3, 3]),
    );
    a.refuses(
        "broadcast_to [2, 3] -> [3]",
        &["broadcast_to", "[2, 3]", "[3]"],
        || x.broadcast_to(&[3]),
    );
    a.refuses(
        "broadcast_to [1] -> [usize::MAX, 2]",
        &["broadcast_to", "18446744073709551615, 2"],
        || z(&[1]).broadcast_to(&[usize::MAX, 2]),
    );
    a.refuses("cat of nothing", &["cat", "none"], || {
        Tensor::<f32>::cat(&[], 0)
    });
    a.refuses("cat of 0-D", &["cat", "0-dimensional"], || {
        Tensor::<f32>::cat(&[&Tensor::scalar(1.0)], 0)
    });
    a.refuses(
        "cat [2, 3] with [2, 4] on dim 0",
        &["cat", "[2, 4]", "[2, 3]"],
        || Tensor::cat(&[&x, &z(&[2, 4])], 0),
    );
    a.refuses(
        "cat [2, 3] with [3] (rank)",
        &["cat", "[3]", "[2, 3]"],
        || Tensor::cat(&[&x, &z(&[3])], 0),
    );
    a.refuses("cat on dim 2", &["cat", "2"], || Tensor::cat(&[&x, &x], 2));
    a.refuses("stack of nothing", &["stack", "none"], || {
        Tensor::<f32>::stack(&[], 0)
    });
    a.refuses(
        "stack [2, 3] with [3, 2]",
        &["stack", "[3, 2]", "[2, 3]"],
        || Tensor::stack(&[&x, &z(&[3, 2])], 0),
    );
    a.refuses("stack on dim 3", &["stack", "3"], || {
        Tensor::stack(&[&x, &x], 3)
    });
    a.finish();
}

#[test]
fn tensor_reductions_and_products_refuse_bad_dims() {
    let mut a = Audit::new("Tensor reductions, matmul, linear");
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    a.refuses("sum over dim 2", &["sum", "2", "2 dimensions"], || {
        x.sum(&[2], false)
    });
    a.refuses("sum over dim -3", &["sum", "-3"], || x.sum(&[-3], false));
    a.refuses("sum over [0, 0]", &["sum", "[0, 0]"], || {
        x.sum(&[0, 0], false)
    });
    a.refuses("sum over [1, -1]", &["sum", "[1, -1]"], || {
        x.sum(&[1, -1], false)
    });
    a.refuses("mean over dim 5", &["mean", "5"], || x.mean(&[5], true));
    a.refuses("mean over [0, -2]", &["mean", "[0, -2]"], || {
        x.mean(&[0, -2], true)
    });
    a.refuses("amax over dim 2", &["amax", "2"], || x.amax(&[2], false));
    a.refuses("amax over an empty dim", &["amax", "[0, 3]"], || {
        z(&[0, 3]).amax(&[0], false)
    });
    a.refuses("amin of an empty tensor", &["amin", "[0]"], || {
        z(&[0]).amin(&[], false)
    });
    a.refuses("amax over [0, -2]", &["amax", "[0, -2]"], || {
        x.amax(&[0, -2], false)
    });
    a.refuses("max(dim) over dim 2", &["max", "2"], || x.max(2, false));
    a.refuses("min(dim) over an empty dim", &["min", "[3, 0]"], || {
        z(&[3, 0]).min(1, true)
    });
    a.refuses("argmin over an empty dim", &["argmin", "[3, 0]"], || {
        z(&[3, 0]).argmin(-1, false)
    });
    a.refuses("logsumexp over dim 2", &["logsumexp", "2"], || {
        x.logsumexp(&[2], false)
    });
    a.refuses("var over dim -3", &["var", "-3"], || {
        x.var(&[-3], 1.0, false)
    });
    a.refuses("std over [1, 1]", &["std", "[1, 1]"], || {
        x.std(&[1, 1], 1.0, false)
    });
    a.holds("logsumexp over an empty dim is -inf", || {
        let y = z(&[2, 0])
            .logsumexp(&[1], false)
            .map_err(|e| e.to_string())?;
        ensure(y.to_vec() == [f32::NEG_INFINITY; 2], || {
            format!("got {y:?}")
        })
    });
    let index = |v: &[i64], shape: &[usize]| Indices::from_vec(v.to_vec(), shape).unwrap();
    a.refuses("gather: index 3 of 3", &["gather", "3"], || {
        x.gather(1, &index(&[3, 0], &[2, 1]))
    });
    a.refuses("gather: index -1", &["gather", "-1"], || {
        x.gather(1, &index(&[-1, 0], &[2, 1]))
    });
    a.refuses(
        "gather: 1-D index of a 2-D input",
        &["gather", "[2]"],
        || x.gather(1, &index(&[0, 0], &[2])),
    );
    a.refuses(
        "gather: index larger in another dim",
        &["gather", "[3, 1]", "dimension 0"],
        || x.gather(1, &index(&[0, 0, 0], &[3, 1])),
    );
    a.refuses("gather: dim 2", &["gather", "2"], || {
        x.gather(2, &index(&[0], &[1, 1]))
    });
    a.refuses(
        "index_select: 2-D index",
        &["index_select", "[1, 2]"],
        || x.index_select(0, &index(&[0, 1], &[1, 2])),
    );
    a.refuses("index_select: index 2 of 2", &["index_select", "2"], || {
        x.index_select(0, &Indices::from_classes(&[2]))
    });
    a.refuses(
        "index_select: two indices of a 0-d input",
        &["index_select", "0-d"],
        || Tensor::<f32>::scalar(1.0).index_select(0, &Indices::from_classes(&[0, 0])),
    );
    a.refuses(
        "gather_backward: grad_output of another shape",
        &["gather_backward", "[2, 1]", "[3]"],
        || gather_backward(&z(&[3]), &index(&[0, 1], &[2, 1]), 1, &[2, 3]),
    );
    a.refuses(
        "index_select_backward: grad_output of another shape",
        &["index_select_backward", "[1, 3]", "[3]"],
        || index_select_backward(&z(&[3]), &Indices::from_classes(&[1]), 0, &[2, 3]),
    );
    a.refuses("argmax over dim 2", &["argmax", "2"], || x.argmax(2, false));
    a.refuses("argmax over an empty dim", &["argmax", "[3, 0]"], || {
        z(&[3, 0]).argmax(1, false)
    });

    a.refuses(
        "matmul [2, 3] x [4, 5]",
        &["matmul", "[2, 3]", "[4, 5]"],
        || x.matmul(&z(&[4, 5])),
    );
    a.refuses("matmul [2, 3] x [2]", &["matmul", "[2, 3]", "[2]"], || {
        x.matmul(&z(&[2]))
    });
    a.refuses("matmul 0-D", &["matmul", "[]"], || {
        x.matmul(&Tensor::scalar(1.0))
    });
    a.refuses("matmul [3] x [4]", &["matmul", "[3]", "[4]"], || {
        z(&[3]).matmul(&z(&[4]))
    });
    a.refuses(
        "matmul batch [2] x batch [3] in 4-D",
        &["matmul", "[1, 2, 2, 3]", "[3, 3, 4]"],
        || z(&[1, 2, 2, 3]).matmul(&z(&[3, 3, 4])),
    );
    a.holds("matmul 4-D x 3-D broadcasts the batch", || {
        let y = z(&[2, 1, 2, 3])
            .matmul(&z(&[5, 3, 4]))
            .map_err(|e| e.to_string())?;
        ensure(y.shape() == [2, 5, 2, 4], || format!("got {:?}", y.shape()))
    });
    a.refuses(
        "matmul_backward: grad_output of another shape",
        &["matmul_backward", "[2, 4]", "[2, 5]"],
        || matmul_backward(&x, &z(&[3, 4]), &z(&[2, 5]), [true, true]),
    );
    a.refuses(
        "matmul batch 2 x batch 3",
        &["matmul", "[2, 2, 3]", "[3, 3, 4]"],
        || z(&[2, 2, 3]).matmul(&z(&[3, 3, 4])),
    );
    a.holds("matmul [2, 0] x [0, 3] is zeros [2, 3]", || {
        let y = z(&[2, 0]).matmul(&z(&[0, 3])).map_err(|e| e.to_string())?;
        ensure(
            y.shape() == [2, 3] && y.to_vec().iter().all(|&v| v == 0.0),
            || format!("got {y:?}"),
        )
    });

    a.refuses(
        "linear: 3 features, weight expects 4",
        &["linear", "3", "4", "[2, 3]", "[5, 4]"],
        || x.linear(&z(&[5, 4]), None),
    );
    a.refuses("linear: 1-D weight", &["linear", "2-D", "[3]"], || {
        x.linear(&z(&[3]), None)
    });
    a.refuses(
        "linear: bias [4] for 5 outputs",
        &["linear", "[5]", "[4]"],
        || x.linear(&z(&[5, 3]), Some(&z(&[4]))),
    );
    a.refuses("linear: 0-D input", &["linear", "[]"], || {
        Tensor::<f32>::scalar(1.0).linear(&z(&[5, 3]), None)
    });
    a.holds(
        "linear: 0 in_features gives the bias, [5, 0] x [3, 0]^T -> [5, 3]",
        || {
            let y = z(&[5, 0])
                .linear(&z(&[3, 0]), Some(&t(&[1.0, 2.0, 3.0], &[3])))
                .map_err(|e| format!("refused: {e}"))?;
            ensure(
                y.shape() == [5, 3] && y.to_vec()[..3] == [1.0, 2.0, 3.0],
                || format!("got {y:?}"),
            )
        },
    );
    a.refuses(
        "linear_backward: grad_output [2, 4] for output [2, 5]",
        &["linear_backward", "[2, 5]", "[2, 4]"],
        || linear_backward(&x, &z(&[5, 3]), &z(&[2, 4]), [true, true, true]),
    );
    a.finish();
}

#[test]
fn tensor_conv2d_refuses_bad_params() {
    let mut a = Audit::new("conv2d / pad");
    let x = z(&[1, 3, 8, 8]);
    let w = z(&[4, 3, 3, 3]);
    let p = Conv2dParams::default();
    a.refuses("conv2d: 2-D input", &["conv2d", "4-D", "[8, 8]"], || {
        z(&[8, 8]).conv2d(&w, None, &p)
    });
    a.refuses(
        "conv2d: 2-D weight",
        &["conv2d", "4-D weight", "[4, 27]"],
        || x.conv2d(&z(&[4, 27]), None, &p),
    );
    a.refuses(
        "conv2d: 3 channels, weight expects 1",
        &[
            "conv2d",
            "3 channels",
            "expects 1",
            "[1, 3, 8, 8]",
            "[4, 1, 3, 3]",
        ],
        || x.conv2d(&z(&[4, 1, 3, 3]), None, &p),
    );
    a.refuses("conv2d: groups 0", &["conv2d", "groups", "0"], || {
        x.conv2d(&w, None, &p.with_groups(0))
    });
    a.refuses(
        "conv2d: groups 2 with 3 input channels",
        &["conv2d", "groups=2", "3"],
        || x.conv2d(&z(&[4, 1, 3, 3]), None, &p.with_groups(2)),
    );
    a.refuses(
        "conv2d: groups 3 with 4 output channels",
        &["conv2d", "groups=3", "4"],
        || x.conv2d(&z(&[4, 1, 3, 3]), None, &p.with_groups(3)),
    );
    a.refuses("conv2d: stride 0", &["conv2d", "stride", "[0, 1]"], || {
        x.conv2d(&w, None, &p.with_stride([0, 1]))
    });
    a.refuses(
        "conv2d: dilation 0",
        &["conv2d", "dilation", "[1, 0]"],
        || x.conv2d(&w, None, &p.with_dilation([1, 0])),
    );
    a.refuses(
        "conv2d: kernel 9x9 on 8x8",
        &["conv2d", "[9, 9]", "[8, 8]"],
        || x.conv2d(&z(&[4, 3, 9, 9]), None, &p),
    );
    a.refuses(
        "conv2d: zero-size kernel",
        &["conv2d", "kernel", "[0, 3]"],
        || x.conv2d(&z(&[4, 3, 0, 3]), None, &p),
    );
    a.refuses(
        "conv2d: padding 'same' with stride 2",
        &["conv2d", "same", "[2, 2]"],
        || x.conv2d(&w, None, &p.with_padding(Padding::Same).with_stride([2, 2])),
    );
    a.refuses(
        "conv2d: bias [3] for 4 output channels",
        &["conv2d", "[4]", "[3]"],
        || x.conv2d(&w, Some(&z(&[3])), &p),
    );
    a.refuses(
        "conv2d: padding usize::MAX overflows",
        &["conv2d", "overflow", "18446744073709551615"],
        || {
            x.conv2d(
                &w,
                None,
                &p.with_padding(Padding::Explicit([usize::MAX, 0])),
            )
        },
    );
    a.refuses(
        "conv2d: 'same' with dilation usize::MAX overflows",
        &["conv2d", "too large"],
        || {
            x.conv2d(
                &w,
                None,
                &p.with_padding(Padding::Same).with_dilation([usize::MAX, 1]),
            )
        },
    );
    // A 1x1 input, replicate padding 2^59 per side (a Conv2d layer with padding 2^59 and
    // stride 2^62 pads like this first): the padded index maps alone would need 2^64 bytes.
    a.no_panic("pad: replicate padding 2^59 on a 1x1 input", || {
        t(&[7.0], &[1, 1, 1, 1]).pad(&[1 << 59; 4], PadMode::Replicate)
    });
    a.holds("conv2d: zero input channels gives the bias", || {
        let y = z(&[1, 0, 5, 5])
            .conv2d(&z(&[2, 0, 3, 3]), Some(&t(&[1.0, 2.0], &[2])), &p)
            .map_err(|e| format!("refused: {e}"))?;
        ensure(
            y.shape() == [1, 2, 3, 3] && y.to_vec()[0] == 1.0 && y.to_vec()[9] == 2.0,
            || format!("got {y:?}"),
        )
    });
    a.refuses(
        "output_size: stride 0",
        &["conv2d", "stride", "[0, 1]"],
        || p.with_stride([0, 1]).output_size([5, 5], [3, 3]),
    );
    a.refuses(
        "output_size: kernel larger than input",
        &["conv2d", "[3, 3]", "[2, 2]"],
        || p.output_size([2, 2], [3, 3]),
    );
    a.refuses(
        "resolve_padding: 'same' with stride 2",
        &["conv2d", "same"],
        || {
            p.with_padding(Padding::Same)
                .with_stride([2, 1])
                .resolve_padding([3, 3])
        },
    );
    a.refuses(
        "conv2d_backward: grad_output of the wrong shape",
        &["conv2d_backward", "[1, 4, 5, 5]", "[1, 4, 6, 6]"],
        || conv2d_backward(&z(&[1, 4, 5, 5]), &x, &w, &p, [true, true, true]),
    );
    a.refuses(
        "conv2d_backward: channel mismatch",
        &["conv2d_backward", "3 channels", "expects 2"],
        || {
            conv2d_backward(
                &z(&[1, 4, 6, 6]),
                &x,
                &z(&[4, 2, 3, 3]),
                &p,
                [true, true, true],
            )
        },
    );
    a.refuses(
        "pad: 2 pairs on a 1-D input",
        &["pad", "2 dimensions", "[8]"],
        || z(&[8]).pad(&[1, 1, 1, 1], PadMode::Constant(0.0)),
    );
    a.refuses("pad: odd length", &["pad", "pairs", "3 entries"], || {
        x.pad(&[1, 1, 1], PadMode::Constant(0.0))
    });
    a.refuses(
        "pad: reflect on a 2-D input",
        &["pad", "reflect", "3-D or 4-D", "[8, 8]"],
        || z(&[8, 8]).pad(&[1, 1, 1, 1], PadMode::Reflect),
    );
    a.refuses("pad: reflect 8 on 8", &["pad", "reflect", "8"], || {
        x.pad(&[0, 0, 8, 0], PadMode::Reflect)
    });
    a.refuses("pad: circular 9 on 8", &["pad", "circular", "9"], || {
        x.pad(&[9, 1, 0, 0], PadMode::Circular)
    });
    a.refuses(
        "pad: replicate on an empty plane",
        &["pad", "replicate", "0"],
        || z(&[1, 1, 0, 4]).pad(&[0, 0, 1, 0], PadMode::Replicate),
    );
    a.refuses(
        "pad: padding isize::MAX",
        &["pad", "9223372036854775807"],
        || x.pad(&[isize::MAX, 1, 0, 0], PadMode::Constant(0.0)),
    );
    a.refuses("pad: crop below zero", &["pad", "(-5, -4)", "-1"], || {
        x.pad(&[-5, -4, 0, 0], PadMode::Constant(0.0))
    });
    a.refuses(
        "pad_backward: grad of the wrong shape",
        &["pad_backward", "[1, 3, 9, 9]", "[1, 3, 10, 10]"],
        || {
            pad_backward(
                &z(&[1, 3, 9, 9]),
                &[1, 3, 8, 8],
                &[1, 1, 1, 1],
                PadMode::Reflect,
            )
        },
    );
    a.refuses(
        "pad_backward: 2-D grad",
        &["pad_backward", "[9, 9]"],
        || {
            pad_backward(
                &z(&[9, 9]),
                &[1, 1, 8, 8],
                &[1, 0, 1, 0],
                PadMode::Constant(0.0),
            )
        },
    );
    a.finish();
}

#[test]
fn tensor_pooling_refuses_bad_params() {
    let mut a = Audit::new("pooling");
    let x = z(&[1, 2, 6, 6]);
    let p = Pool2dParams::new([2, 2]);
    a.refuses("max_pool2d: 2-D input", &["max_pool2d", "[6, 6]"], || {
        z(&[6, 6]).max_pool2d(&p)
    });
    a.refuses(
        "max_pool2d: 5-D input",
        &["max_pool2d", "[1, 1, 2, 6, 6]"],
        || z(&[1, 1, 2, 6, 6]).max_pool2d(&p),
    );
    a.refuses(
        "max_pool2d: zero channels",
        &["max_pool2d", "[1, 0, 6, 6]"],
        || z(&[1, 0, 6, 6]).max_pool2d(&p),
    );
    a.refuses(
        "max_pool2d: kernel 0",
        &["max_pool2d", "kernel_size", "[0, 2]"],
        || x.max_pool2d(&Pool2dParams::new([0, 2])),
    );
    a.refuses(
        "max_pool2d: stride 0",
        &["max_pool2d", "stride", "[0, 0]"],
        || x.max_pool2d(&p.with_stride([0, 0])),
    );
    a.refuses(
        "max_pool2d: dilation 0",
        &["max_pool2d", "dilation", "[0, 1]"],
        || x.max_pool2d(&p.with_dilation([0, 1])),
    );
    a.refuses(
        "max_pool2d: padding 2 for kernel 2",
        &["max_pool2d", "pad", "[2, 0]", "[1, 1]"],
        || x.max_pool2d(&p.with_padding([2, 0])),
    );
    a.refuses(
        "max_pool2d: kernel 7 on 6x6",
        &["max_pool2d", "[6, 6]", "[7, 7]"],
        || x.max_pool2d(&Pool2dParams::new([7, 7])),
    );
    a.refuses(
        "avg_pool2d: dilation",
        &["avg_pool2d", "dilation", "[2, 2]"],
        || x.avg_pool2d(&p.with_dilation([2, 2])),
    );
    a.refuses(
        "avg_pool2d: kernel 7 on 6x6",
        &["avg_pool2d", "[6, 6]", "[7, 7]"],
        || x.avg_pool2d(&Pool2dParams::new([7, 7])),
    );
    a.refuses("output_size: zero plane", &["pool2d", "[0, 4]"], || {
        p.output_size([0, 4])
    });
    // kernel_size usize::MAX with padding usize::MAX / 2 (allowed: at most half the kernel):
    // the single window covers the single input element 5, so the answer is 5 (or an error).
    a.holds(
        "max_pool2d: kernel usize::MAX, padding usize::MAX/2 on one element",
        || {
            let params = Pool2dParams::new([usize::MAX, 1]).with_padding([HUGE, 0]);
            match t(&[5.0], &[1, 1, 1, 1]).max_pool2d(&params) {
                Err(_) => Ok(()),
                Ok(y) if y.to_vec() == [5.0] => Ok(()),
                Ok(y) => Err(format!(
                    "silently wrong: returned {:?} instead of [5.0]",
                    y.to_vec()
                )),
            }
        },
    );
    a.refuses(
        "max_pool2d_backward: 3 indices for 4 gradients",
        &["max_pool2d_backward", "4", "3"],
        || max_pool2d_backward(&z(&[1, 1, 2, 2]), &[0, 1, 2], &[1, 1, 4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: index outside the plane",
        &["max_pool2d_backward", "16", "below 16"],
        || max_pool2d_backward(&z(&[1, 1, 1, 1]), &[16], &[1, 1, 4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: grad of another batch",
        &["max_pool2d_backward", "[2, 1, 2, 2]", "[1, 1, 4, 4]"],
        || max_pool2d_backward(&z(&[2, 1, 2, 2]), &[0; 8], &[1, 1, 4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: 2-D input shape",
        &["max_pool2d_backward", "[4, 4]"],
        || max_pool2d_backward(&z(&[2, 2]), &[0; 4], &[4, 4]),
    );
    a.refuses(
        "max_pool2d_backward: input shape [1, 1, 2^31, 2^31] (2^62 elements)",
        &["max_pool2d_backward", "2147483648"],
        || max_pool2d_backward(&z(&[1, 1, 1, 1]), &[0], &[1, 1, 1 << 31, 1 << 31]),
    );
    a.refuses(
        "avg_pool2d_backward: grad of the wrong shape",
        &["avg_pool2d_backward", "[1, 2, 3, 3]", "[1, 2, 2, 2]"],
        || avg_pool2d_backward(&z(&[1, 2, 2, 2]), &[1, 2, 6, 6], &p),
    );
    a.refuses(
        "avg_pool2d_backward: input shape [1, 1, 2^31, 2^31] (2^62 elements)",
        &["avg_pool2d_backward", "2147483648"],
        || {
            avg_pool2d_backward(
                &z(&[1, 1, 1, 1]),
                &[1, 1, 1 << 31, 1 << 31],
                &Pool2dParams::new([1 << 31, 1 << 31]),
            )
        },
    );
    a.finish();
}
