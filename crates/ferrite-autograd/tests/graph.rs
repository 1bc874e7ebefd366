//! The graph itself: accumulation, pruning, no_grad, detach, deep chains, freeing.

use ferrite_autograd::{Var, detect_anomaly, no_grad};
use ferrite_tensor::Tensor;

fn param(v: &[f64]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap())
}

#[test]
fn gradients_accumulate_through_fan_out() {
    // y = x*x + 3x: x feeds three uses; dy/dx = 2x + 3.
    let x = param(&[1.0, -2.0]);
    let y = x.mul(&x).unwrap().add(&x.mul_scalar(3.0).unwrap()).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![5.0, -1.0]);
}

#[test]
fn gradients_accumulate_across_calls_until_zero_grad() {
    let x = param(&[2.0]);
    for _ in 0..3 {
        x.mul_scalar(2.0)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
    }
    assert_eq!(x.grad().unwrap().to_vec(), vec![6.0]);
    x.zero_grad();
    x.mul_scalar(2.0)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![2.0]);
}

#[test]
fn constants_get_no_gradient_and_branches_without_parameters_are_pruned() {
    let x = param(&[1.0]);
    let c = Var::new(Tensor::<f64>::from_vec(vec![4.0], &[1]).unwrap());
    // The branch c.exp() reaches no parameter: it is not recorded at all.
    let branch = c.exp().unwrap();
    assert!(!branch.requires_grad());
    let y = x.mul(&c).unwrap().add(&branch).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![4.0]);
    assert!(c.grad().is_none());
}

#[test]
fn no_grad_records_nothing_and_detach_cuts_the_graph() {
    let x = param(&[3.0]);
    let y = no_grad(|| x.mul(&x)).unwrap();
    assert!(!y.requires_grad());
    assert!(y.backward().is_err());

    let z = x.mul(&x).unwrap();
    let d = z.detach();
    let w = d.mul(&x).unwrap(); // d is a constant 9
    w.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![9.0]);
}

#[test]
fn second_backward_through_a_freed_graph_is_an_error() {
    let x = param(&[1.0]);
    let y = x.exp().unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let err = y.backward().unwrap_err();
    assert!(err.to_string().contains("already freed"), "{err}");
}

#[test]
fn backward_needs_a_scalar_or_a_matching_grad_output() {
    let x = param(&[1.0, 2.0]);
    let y = x.mul_scalar(2.0).unwrap();
    assert!(
        y.backward()
            .unwrap_err()
            .to_string()
            .contains("one element")
    );
    assert!(y.backward_with(&Tensor::ones(&[3])).is_err());
    y.backward_with(&Tensor::from_vec(vec![1.0, 10.0], &[2]).unwrap())
        .unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, 20.0]);
}

#[test]
fn a_chain_of_100_000_ops_backpropagates_and_drops_without_stack_overflow() {
    let x = param(&[1.0]);
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = y.mul_scalar(1.0).unwrap();
    }
    y.sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![1.0]);

    // Dropping an un-backpropagated deep graph must not recurse either.
    let mut z = x.clone();
    for _ in 0..100_000 {
        z = z.add_scalar(0.0).unwrap();
    }
    drop(z);
}

#[test]
fn anomaly_mode_names_the_op_that_made_a_nan() {
    let x = param(&[-1.0, 1.0]);
    let err = detect_anomaly(|| x.sqrt()).unwrap_err();
    assert!(err.to_string().contains("'sqrt'"), "{err}");
    // Backward anomaly: forward is finite, gradient of sqrt at 0 is infinite.
    let z = param(&[0.0]);
    let err = detect_anomaly(|| z.sqrt()?.sum_all()?.backward()).unwrap_err();
    assert!(err.to_string().contains("backward of 'sqrt'"), "{err}");
}

#[test]
fn operators_panic_with_the_method_message() {
    let a = param(&[1.0, 2.0]);
    let b = param(&[1.0, 2.0, 3.0]);
    let result = std::panic::catch_unwind(|| &a + &b);
    let msg = result
        .unwrap_err()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert_eq!(msg, "add: shapes [2] and [3] cannot be broadcast together");
    let c = &a * &a;
    assert_eq!(c.value().to_vec(), vec![1.0, 4.0]);
}
