//! `gradcheck`'s fast mode: random projections, and the element named on a failure.

use ferrite_autograd::{GradcheckError, GradcheckOptions, Var, gradcheck};
use ferrite_tensor::{Tensor, seeded_rng};

fn wrong_square(v: &[Var<f64>]) -> Result<Var<f64>, ferrite_tensor::TensorError> {
    // y = x² with a gradient that is wrong only at element 4.
    let x = v[0].value();
    Var::from_op("wrong_square", x.mul(&x)?, &[&v[0]], move |g, grads| {
        let mut d = x.mul_scalar(2.0).to_vec();
        d[4] += 0.5;
        let d = Tensor::from_vec(d, x.shape())?;
        grads.set(0, || g.mul(&d))
    })
}

#[test]
fn fast_mode_passes_correct_ops_with_one_projection_per_input() {
    let x = Tensor::<f64>::randn(&[3, 5], &mut seeded_rng(1));
    let w = Tensor::<f64>::randn(&[4, 5], &mut seeded_rng(2));
    let b = Tensor::<f64>::randn(&[4], &mut seeded_rng(3));
    let fast = GradcheckOptions::default().with_fast_mode(true);
    let r = gradcheck(
        |v: &[Var<f64>]| v[0].linear(&v[1], Some(&v[2]))?.tanh(),
        &[x, w, b],
        &fast,
    )
    .unwrap();
    assert_eq!(r.checked, 3);
}

#[test]
fn fast_mode_catches_a_wrong_entry_and_names_the_element() {
    let x = Tensor::<f64>::randn(&[2, 3], &mut seeded_rng(4));
    let fast = GradcheckOptions::default()
        .with_fast_mode(true)
        .with_input_names(&["x"]);
    let e = gradcheck(wrong_square, &[x], &fast).unwrap_err();
    match &e {
        GradcheckError::Mismatch {
            op,
            input,
            input_index,
            ..
        } => {
            assert_eq!((*op, input.as_str()), ("wrong_square", "x"));
            assert_eq!(input_index, &vec![1, 1]); // flat element 4 of [2, 3]
        }
        other => panic!("expected a mismatch, found {other}"),
    }
    assert!(
        e.to_string()
            .contains("backward of 'wrong_square' is wrong for x")
    );
}
