const fs=require("fs");const f=process.argv[2];
const p=JSON.parse(fs.readFileSync(f));const byId=new Map(p.nodes.map(n=>[n.id,n]));
const parent=new Map();for(const n of p.nodes)for(const c of (n.children||[]))parent.set(c,n.id);
const name=n=>n.callFrame.functionName+" "+n.callFrame.url.split("/").slice(-2).join("/")+":"+n.callFrame.lineNumber;
const stack=id=>{const out=[];let cur=id;while(cur!==undefined){out.push(name(byId.get(cur)));cur=parent.get(cur)}return out};
let t=0;const times=p.samples.map((s,i)=>(t+=p.timeDeltas[i]||0));
const firstClaim=p.samples.findIndex(s=>stack(s).some(k=>k.includes('flash-sale-ledger')));
const firstOrder=p.samples.findIndex(s=>stack(s).some(k=>k.includes('writeRecord')));
console.log('window ms',(times[firstOrder]-times[firstClaim])/1000);
const incl=new Map();const self=new Map();let total=0;
for(let i=firstClaim;i<firstOrder;i++){const d=p.timeDeltas[i]||0;total+=d;const st=stack(p.samples[i]);self.set(st[0],(self.get(st[0])||0)+d);for(const k of new Set(st))incl.set(k,(incl.get(k)||0)+d)}
console.log('total ms',total/1000);
console.log('--self');[...self].sort((a,b)=>b[1]-a[1]).slice(0,20).forEach(([k,v])=>console.log((v/1000).toFixed(0),k));
console.log('--incl');[...incl].sort((a,b)=>b[1]-a[1]).slice(0,50).forEach(([k,v])=>console.log((v/1000).toFixed(0),k));
