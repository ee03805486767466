#!/usr/bin/env python3
"""Shortlists of a fixed length against shortlists cut at a score slack over the k-th best, tuned
on rows: which carries over to held-out queries? (issue 14, stop 39). A numpy model with no
probing: every row ranked by its 128-dim rotated prefix (the first stage), the best 2,000
rescored on 256 dims (the mid stage), then exactly; recall@10 of the 700 held-out queries and
of 400 rows (themselves held out), per rule. Usage: benches/shortlist_rules.py DIR (a
make_scale.py set; ~60 s and 4 GB at 1M rows)"""
import numpy as np, pyarrow.parquet as pq, time
import sys
d=sys.argv[1]; rng=np.random.default_rng(7)
base=pq.read_table(f"{d}/base.parquet",columns=["embedding"]).column(0)
x=np.concatenate([c.values.to_numpy(zero_copy_only=False).reshape(-1,384) for c in base.chunks]).astype(np.float32)
x/=np.linalg.norm(x,axis=1,keepdims=True)
q=pq.read_table(__import__("os").path.join(__import__("os").environ.get("NESTDB_SHARED_DATA", "../shared/data"), "queries.parquet"),columns=["embedding"]).column(0)
q=np.concatenate([c.values.to_numpy(zero_copy_only=False).reshape(-1,384) for c in q.chunks]).astype(np.float32)
q/=np.linalg.norm(q,axis=1,keepdims=True)
s=x[rng.choice(len(x),100000,replace=False)]
_,_,vt=np.linalg.svd(s-s.mean(0),full_matrices=False); R=vt.T.astype(np.float32)
rows=rng.choice(len(x),400,replace=False)
Q=np.concatenate([q,x[rows]])@R
N=len(x); M=2000
s1=np.full((len(Q),M),-9,np.float32); i1=np.zeros((len(Q),M),np.int64)
for i in range(0,N,100000):
    xr=x[i:i+100000]@R
    sc=Q[:,:128]@xr[:,:128].T
    # hold out self for row queries
    for j,r in enumerate(rows):
        if i<=r<i+100000: sc[700+j,r-i]=-9
    S=np.concatenate([s1,sc],1); I=np.concatenate([i1,np.arange(i,i+len(xr))[None,:].repeat(len(Q),0)],1)
    idx=np.argpartition(-S,M,axis=1)[:,:M]
    s1=np.take_along_axis(S,idx,1); i1=np.take_along_axis(I,idx,1)
o=np.argsort(-s1,1); s1=np.take_along_axis(s1,o,1); i1=np.take_along_axis(i1,o,1)
# exact and prefix-256 scores of the candidates
X=x[i1]  # (Q,M,384) ~ 1100*2000*384*4 = 3.4GB
Xr=X@R
s2=np.einsum('qd,qmd->qm',Q[:,:256],Xr[:,:,:256]); se=np.einsum('qd,qmd->qm',Q,Xr)
del X,Xr
# true top10: exact over all rows -> approx by top10 of se among 2000 candidates of prefix128 (near-exact)
truth=np.argsort(-se,1)[:,:10]
def recall(keep1,keep2):
    r=[]
    for a in range(len(Q)):
        k1=keep1[a]; c=np.arange(k1)
        k2=min(keep2[a],k1)
        c2=c[np.argsort(-s2[a,c])[:k2]]
        fin=c2[np.argsort(-se[a,c2])[:10]]
        r.append(len(set(fin)&set(truth[a]))/10)
    r=np.array(r); return r[:700].mean(), r[700:].mean()
print("count rule (k1,k2): queries, rows")
for k1,k2 in [(20,10),(30,15),(40,20),(60,20),(80,30),(120,40),(240,60)]:
    print(k1,k2, *[round(v,3) for v in recall(np.full(len(Q),k1),np.full(len(Q),k2))])
kth1=s1[:,9]
print("threshold rule on stage1 (keep within delta of 10th prefix score, min 10), k2 = same rule on stage 2")
for dl in [0.005,0.01,0.015,0.02,0.03,0.04,0.06]:
    k1=np.maximum(10,(s1>=kth1[:,None]-dl).sum(1))
    # stage 2 threshold among the k1
    k2=[]
    for a in range(len(Q)):
        c=s2[a,:k1[a]]; t=np.sort(c)[::-1][min(9,len(c)-1)]
        k2.append(max(10,int((c>=t-dl).sum())))
    k2=np.array(k2)
    rq,rr=recall(k1,k2)
    print(dl, round(rq,3), round(rr,3), "mean k1 q/r", k1[:700].mean().round(1), k1[700:].mean().round(1), "k2", k2[:700].mean().round(1), k2[700:].mean().round(1))
