//! ferrite-autograd: Var ops, backward and leaf misuse, gradcheck.

use super::*;

#[test]
fn var_ops_refuse_bad_dims() {
    let mut a = Audit::new("Var ops");
    let x = Var::parameter(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let c = Var::new(z(&[4]));
    a.refuses("Var::add [2, 3] + [4]", &["add", "[2, 3]", "[4]"], || {
        x.add(&c)
    });
    a.refuses("Var::sub", &["sub", "[2, 3]", "[4]"], || x.sub(&c));
    a.refuses("Var::mul", &["mul", "[2, 3]", "[4]"], || x.mul(&c));
    a.refuses("Var::div", &["div", "[2, 3]", "[4]"], || x.div(&c));
    a.refuses(
        "Var::matmul [2, 3] x [4]",
        &["matmul", "[2, 3]", "[4]"],
        || x.matmul(&c),
    );
    a.refuses(
        "Var::linear: feature mismatch",
        &["linear", "3", "4"],
        || x.linear(&Var::parameter(z(&[2, 4])), None),
    );
    a.refuses(
        "Var::reshape to [usize::MAX/2, 4]",
        &["reshape", "9223372036854775807, 4"],
        || x.reshape(&[HUGE as isize, 4]),
    );
    a.refuses("Var::flatten(1, 0)", &["flatten", "1", "0"], || {
        x.flatten(1, 0)
    });
    a.refuses("Var::permute([1, 1])", &["permute", "[1, 1]"], || {
        x.permute(&[1, 1])
    });
    a.refuses("Var::permute([0, 5])", &["permute", "5"], || {
        x.permute(&[0, 5])
    });
    a.refuses("Var::transpose(0, -3)", &["transpose", "-3"], || {
        x.transpose(0, -3)
    });
    a.refuses("Var::squeeze(2)", &["squeeze", "2"], || x.squeeze(2));
    a.refuses("Var::unsqueeze(-4)", &["unsqueeze", "-4"], || {
        x.unsqueeze(-4)
    });
    a.refuses("Var::narrow(1, 1, 3)", &["narrow", "1", "3"], || {
        x.narrow(1, 1, 3)
    });
    a.refuses(
        "Var::broadcast_to([3, 3])",
        &["broadcast_to", "[3, 3]"],
        || x.broadcast_to(&[3, 3]),
    );
    a.refuses("Var::cat of nothing", &["cat"], || Var::<f32>::cat(&[], 0));
    a.refuses(
        "Var::cat [2, 3] with [4]",
        &["cat", "[4]", "[2, 3]"],
        || Var::cat(&[&x, &c], 0),
    );
    a.refuses("Var::stack of nothing", &["stack"], || {
        Var::<f32>::stack(&[], 0)
    });
    a.refuses("Var::stack on dim 4", &["stack", "4"], || {
        Var::stack(&[&x, &x], 4)
    });
    a.refuses("Var::sum over [0, 0]", &["sum", "[0, 0]"], || {
        x.sum(&[0, 0], false)
    });
    a.refuses("Var::sum over dim 2", &["sum", "2"], || x.sum(&[2], false));
    a.refuses("Var::mean over dim -3", &["mean", "-3"], || {
        x.mean(&[-3], false)
    });
    a.refuses("Var::amax over dim 3", &["amax", "3"], || {
        x.amax(&[3], false)
    });
    a.refuses("Var::max(dim) over dim 2", &["max", "2"], || {
        x.max(2, false)
    });
    a.refuses("Var::var over dim 2", &["var", "2"], || {
        x.var(&[2], 1.0, true)
    });
    a.refuses("Var::gather: index 3 of 3", &["gather", "3"], || {
        x.gather(1, &Indices::from_vec(vec![3, 0], &[2, 1]).unwrap())
    });
    a.refuses("Var::index_select: dim 2", &["index_select", "2"], || {
        x.index_select(2, &Indices::from_classes(&[0]))
    });
    a.refuses("Var::log_softmax(2)", &["log_softmax", "2"], || {
        x.log_softmax(2)
    });
    a.refuses("Var::softmax(-3)", &["softmax", "-3"], || x.softmax(-3));
    a.holds("Var::log_softmax over an empty dim is empty", || {
        let y = Var::new(z(&[2, 0]))
            .log_softmax(1)
            .map_err(|e| e.to_string())?;
        ensure(y.shape() == [2, 0], || format!("got {:?}", y.shape()))
    });
    a.holds(
        "Var::logsumexp over an empty dim is -inf, its gradient empty (as PyTorch)",
        || {
            let x = Var::parameter(z(&[2, 0]));
            let y = x.logsumexp(&[1], false).map_err(|e| e.to_string())?;
            ensure(y.value().to_vec() == [f32::NEG_INFINITY; 2], || {
                format!("got {:?}", y.value().to_vec())
            })?;
            y.sum(&[], false)
                .and_then(|s| s.backward())
                .map_err(|e| e.to_string())?;
            let g = x.grad().ok_or("no gradient".to_string())?;
            ensure(g.shape() == [2, 0], || format!("gradient {:?}", g.shape()))
        },
    );
    a.refuses(
        "Var::conv2d: channel mismatch",
        &["conv2d", "3 channels", "expects 1"],
        || {
            Var::new(z(&[1, 3, 5, 5])).conv2d(
                &Var::parameter(z(&[2, 1, 3, 3])),
                None,
                &Conv2dParams::default(),
            )
        },
    );
    a.refuses(
        "Var::max_pool2d: 2-D input",
        &["max_pool2d", "[2, 3]"],
        || x.max_pool2d(&Pool2dParams::new([2, 2])),
    );
    a.refuses(
        "Var::avg_pool2d: kernel 0",
        &["avg_pool2d", "kernel_size"],
        || Var::new(z(&[1, 1, 4, 4])).avg_pool2d(&Pool2dParams::new([0, 0])),
    );
    a.refuses("Var::item of [2, 3]", &["item", "[2, 3]"], || x.item());
    a.refuses(
        "Var::neg under detect_anomaly of NaN",
        &["detect_anomaly", "neg"],
        || detect_anomaly(|| Var::new(t(&[f32::NAN], &[1])).neg()),
    );
    a.refuses(
        "Var::log of 0 under detect_anomaly",
        &["detect_anomaly", "log"],
        || detect_anomaly(|| Var::parameter(t(&[0.0], &[1])).log()),
    );
    a.finish();
}

#[test]
fn var_backward_and_leaf_misuse_is_refused() {
    let mut a = Audit::new("Var::backward and leaves");
    let w = Var::parameter(t(&[1.0, 2.0], &[2]));
    a.refuses(
        "backward of a [2] result",
        &["backward", "[2]", "backward_with"],
        || w.mul_scalar(2.0)?.backward(),
    );
    a.refuses(
        "backward of a constant",
        &["backward", "does not require a gradient"],
        || Var::new(t(&[1.0], &[1])).sum_all()?.backward(),
    );
    a.refuses("backward under no_grad", &["backward", "no_grad"], || {
        no_grad(|| w.sum_all())?.backward()
    });
    a.refuses(
        "backward twice",
        &["backward", "already freed", "sum"],
        || {
            let y = w.mul(&w)?.sum_all()?;
            y.backward()?;
            y.backward()
        },
    );
    a.refuses(
        "backward_with of the wrong shape",
        &["backward", "[3]", "[2]"],
        || w.mul_scalar(2.0)?.backward_with(&z(&[3])),
    );
    a.refuses(
        "backward_with of an empty grad",
        &["backward", "[0]", "[2]"],
        || w.mul_scalar(2.0)?.backward_with(&z(&[0])),
    );
    a.refuses(
        "set_value of the wrong shape",
        &["set_value", "[2]", "[3]"],
        || w.set_value(z(&[3])),
    );
    a.refuses(
        "set_value of a 0-D value on [2]",
        &["set_value", "[2]", "[]"],
        || w.set_value(Tensor::scalar(1.0)),
    );
    a.refuses(
        "set_value of a non-leaf",
        &["set_value", "mul_scalar"],
        || w.mul_scalar(2.0)?.set_value(z(&[2])),
    );
    a.refuses(
        "set_grad of the wrong shape",
        &["set_grad", "[2]", "[2, 1]"],
        || w.set_grad(Some(z(&[2, 1]))),
    );
    a.refuses(
        "a custom op whose backward returns a gradient of the wrong shape",
        &["backward", "'bad_shape'", "[3]", "[2]"],
        || {
            let y = Var::from_op("bad_shape", z(&[]), &[&w], |_, grads| {
                grads.set(0, || Ok(z(&[3])))
            })?;
            y.backward()
        },
    );
    a.refuses(
        "anomaly: a backward that produces NaN names the op",
        &["detect_anomaly", "sqrt"],
        || {
            detect_anomaly(|| {
                Var::parameter(t(&[0.0], &[1]))
                    .sqrt()?
                    .sum_all()?
                    .backward()
            })
        },
    );
    a.finish();
}

#[test]
fn gradcheck_refuses_misuse() {
    let mut a = Audit::new("gradcheck");
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let square = |v: &[Var<f64>]| v[0].mul(&v[0]);
    a.refuses(
        "a closure that wants 2 inputs, given 1 (closure checks its slice)",
        &["gradcheck", "expected 2 inputs, found 1"],
        || {
            ferrite::autograd::gradcheck(
                |v: &[Var<f64>]| {
                    if v.len() != 2 {
                        return Err(TensorError::invalid(
                            "my_op",
                            format!("expected 2 inputs, found {}", v.len()),
                        ));
                    }
                    v[0].mul(&v[1])
                },
                std::slice::from_ref(&x),
                &GradcheckOptions::default(),
            )
        },
    );
    a.refuses(
        "a wrong backward is reported",
        &[
            "gradcheck",
            "'wrong_square'",
            "x",
            "analytical",
            "numerical",
        ],
        || {
            gradcheck(
                |v: &[Var<f64>]| {
                    let x = v[0].value();
                    Var::from_op("wrong_square", x.mul(&x)?, &[&v[0]], move |g, grads| {
                        grads.set(0, || g.mul(&x))
                    })
                },
                std::slice::from_ref(&x),
                &GradcheckOptions::default().with_input_names(&["x"]),
            )
        },
    );
    a.refuses(
        "a closure whose op fails",
        &["gradcheck", "add", "[2]", "[3]"],
        || {
            gradcheck(
                |v: &[Var<f64>]| v[0].add(&v[1]),
                &[x.clone(), Tensor::zeros(&[3])],
                &GradcheckOptions::default(),
            )
        },
    );
    a.refuses(
        "no inputs at all: nothing is checked",
        &["gradcheck"],
        || {
            gradcheck(
                |_: &[Var<f64>]| Ok(Var::new(Tensor::scalar(1.0))),
                &[],
                &GradcheckOptions::default(),
            )
        },
    );
    for (case, options) in [
        ("eps 0", GradcheckOptions::default().with_eps(0.0)),
        ("eps NaN", GradcheckOptions::default().with_eps(f64::NAN)),
        (
            "negative atol",
            GradcheckOptions::default().with_tolerances(-1.0, 1e-3),
        ),
    ] {
        a.holds(
            &format!("gradcheck with {case} is refused as a bad option"),
            || match gradcheck(square, std::slice::from_ref(&x), &options) {
                Err(GradcheckError::Op(_)) => Ok(()),
                Err(e @ GradcheckError::Mismatch { .. }) => Err(format!(
                    "reported a wrong backward of a correct op instead of refusing the option: {e}"
                )),
                Ok(r) => Err(format!("accepted: {r:?}")),
            },
        );
    }
    // A closure whose output shape differs between calls (here: with and without gradient
    // recording): gradcheck must report it, not index past the end.
    a.refuses(
        "a closure whose output shape changes",
        &["gradcheck"],
        || {
            gradcheck(
                |v: &[Var<f64>]| {
                    if is_grad_enabled() {
                        v[0].mul_scalar(1.0)
                    } else {
                        v[0].narrow(0, 0, 1)
                    }
                },
                std::slice::from_ref(&x),
                &GradcheckOptions::default(),
            )
        },
    );
    a.finish();
}
